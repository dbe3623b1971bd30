// What the nspawn flavour's pause, resume and stats entrypoints do with the
// pod's cgroups (common.hpp names them). Both cgroup versions: cgroup2's
// cgroup.freeze when the pod has a cgroup2 cgroup (v2 and hybrid hosts), else
// the v1 freezer; usage from whichever hierarchy has the numbers.
#pragma once
#include <nlohmann/json.hpp>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace pod::stage1 {

// Freeze or thaw every process of the pod and wait until the kernel says it
// is done (an error after `timeout_ms`). $POD_STAGE1_FREEZER=v1 picks the v1
// freezer on a hybrid host (tests).
void set_pod_frozen(const std::string& uuid, bool frozen, int timeout_ms = 5000);

// Why the pod cannot be frozen (it has no cgroup2 cgroup and no v1 freezer
// cgroup, as a rootless pod), or nullopt when it can.
std::optional<std::string> why_not_freezable(const std::string& uuid);

// Thaw what is left of the pod's cgroups, if they are still there and frozen
// (gc, after a pod that was paused died or was killed).
void thaw_pod_cgroups(const std::string& uuid);

// The pod's usage from its cgroups: {"cpuNs", "memoryBytes", "pids"} (each
// only when some hierarchy has it) and, for every app that has a cgroup of
// its own below the pod's (named <app> or app-<app>), the same per app.
struct CgroupUsage {
  nlohmann::json pod = nlohmann::json::object();
  std::map<std::string, nlohmann::json> apps;
};
CgroupUsage pod_cgroup_usage(const std::string& uuid, const std::vector<std::string>& apps);

}  // namespace pod::stage1
