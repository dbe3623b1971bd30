// Where the stage1 puts a pod's cgroups (stage1/cgroupplaces.hpp): by default pod/pod-<uuid> in every
// hierarchy; inside a service unit beneath the unit's cgroup, in each hierarchy the unit has one in.
#include <doctest/doctest.h>

#include "../../stage1/cgroupplaces.hpp"

using namespace pod::stage1;

namespace {

const char* kUuid = "0b5c6cf6-2f52-4b0e-9a2e-3c1d0f6b7a11";

// A hybrid host: cgroup2 at unified, name=systemd and three v1 controllers; one line elsewhere.
const char* kHybridMounts =
    "tmpfs /sys/fs/cgroup tmpfs rw,relatime,mode=755 0 0\n"
    "cgroup2 /sys/fs/cgroup/unified cgroup2 rw,nosuid,nodev,noexec,relatime,nsdelegate 0 0\n"
    "cgroup /sys/fs/cgroup/systemd cgroup rw,nosuid,nodev,noexec,relatime,xattr,name=systemd 0 0\n"
    "cgroup /sys/fs/cgroup/cpu,cpuacct cgroup rw,nosuid,nodev,noexec,relatime,cpu,cpuacct 0 0\n"
    "cgroup /sys/fs/cgroup/memory cgroup rw,nosuid,nodev,noexec,relatime,memory 0 0\n"
    "cgroup /sys/fs/cgroup/freezer cgroup rw,nosuid,nodev,noexec,relatime,freezer 0 0\n"
    "cgroup /mnt/elsewhere cgroup rw,relatime,pids 0 0\n";

const char* kUnit = "/system.slice/system-pod.slice/pod@web.service";

}  // namespace

TEST_CASE("cgroup mounts: the hierarchies under /sys/fs/cgroup with their options") {
  auto ms = parse_cgroup_mounts(kHybridMounts);
  REQUIRE(ms.size() == 5);
  CHECK(ms[0].mount_point == "/sys/fs/cgroup/unified");
  CHECK(ms[0].v2);
  CHECK(ms[1].options.count("name=systemd") == 1);
  CHECK(ms[2].options.count("cpuacct") == 1);
  CHECK_FALSE(ms[2].v2);
}

TEST_CASE("pod cgroups outside a service unit: pod/pod-<uuid> everywhere, the stage1 stays") {
  const std::string cg = std::string("0::") + kUnit + "\n";
  auto plan = plan_pod_cgroups(kUuid, "", parse_cgroup_mounts(kHybridMounts), cg);
  CHECK(plan.unit_cgroups.empty());
  REQUIRE(plan.dirs.size() == 5);
  for (const auto& [mnt, dir] : plan.dirs) CHECK(dir == mnt + "/pod/pod-" + kUuid);
}

TEST_CASE("pod cgroups in a service unit on a hybrid host: beneath the unit where it has a cgroup") {
  const std::string cg = std::string("12:freezer:/\n") + "6:memory:" + kUnit + "\n" + "4:cpu,cpuacct:" + kUnit + "\n" +
                         "1:name=systemd:" + kUnit + "\n" + "0::" + kUnit + "\n";
  auto plan = plan_pod_cgroups(kUuid, "pod@web.service", parse_cgroup_mounts(kHybridMounts), cg);
  const std::string pod = std::string(kUnit) + "/pod-" + kUuid;
  CHECK(plan.dirs.at("/sys/fs/cgroup/unified") == "/sys/fs/cgroup/unified" + pod);
  CHECK(plan.dirs.at("/sys/fs/cgroup/systemd") == "/sys/fs/cgroup/systemd" + pod);
  CHECK(plan.dirs.at("/sys/fs/cgroup/memory") == "/sys/fs/cgroup/memory" + pod);
  CHECK(plan.dirs.at("/sys/fs/cgroup/cpu,cpuacct") == "/sys/fs/cgroup/cpu,cpuacct" + pod);
  // The unit has no freezer cgroup: the default there.
  CHECK(plan.dirs.at("/sys/fs/cgroup/freezer") == std::string("/sys/fs/cgroup/freezer/pod/pod-") + kUuid);
  // Where the stage1 moves to <unit>/supervisor: every hierarchy of the unit, cgroup2 last.
  REQUIRE(plan.unit_cgroups.size() == 4);
  CHECK(plan.unit_cgroups.back() == std::string("/sys/fs/cgroup/unified") + kUnit);
}

TEST_CASE("pod cgroups in a service unit on a cgroup2-only host") {
  const std::string mounts = "cgroup2 /sys/fs/cgroup cgroup2 rw,nosuid,nodev,noexec,relatime 0 0\n";
  auto plan = plan_pod_cgroups(kUuid, "pod@web.service", parse_cgroup_mounts(mounts), std::string("0::") + kUnit + "\n");
  CHECK(plan.dirs.at("/sys/fs/cgroup") == std::string("/sys/fs/cgroup") + kUnit + "/pod-" + kUuid);
  CHECK(plan.unit_cgroups == std::vector<std::string>{std::string("/sys/fs/cgroup") + kUnit});
  // Another unit's name (a path merely ending in the same letters) is not ours.
  plan = plan_pod_cgroups(kUuid, "web.service", parse_cgroup_mounts(mounts), std::string("0::") + kUnit + "\n");
  CHECK(plan.unit_cgroups.empty());
}
