// Where a pod's cgroups are, host side (Documentation/stage1-native.md "cgroups"): per cgroup
// hierarchy mounted under /sys/fs/cgroup, the pod's directory in it.
//
// The default, and what a pod without a record has: <mount>/pod/pod-<uuid>. A run entrypoint that
// places the pod itself (place_pod_cgroups) inside a delegated service unit puts it beneath the
// unit's cgroup instead, <mount><unit's cgroup>/pod-<uuid>, in every hierarchy where the stage1 is
// in the unit's cgroup, and moves itself to <unit's cgroup>/supervisor there (cgroup2 allows no
// processes in a cgroup whose controllers are enabled for its children), as systemd-nspawn
// --keep-unit does with its payload/supervisor. Either way the places are recorded in
// $P/stage1-state/cgroups before any of the pod's processes is placed, and every entrypoint
// (pause, resume, stats, enter, stop, gc) reads them from there.
#pragma once

#include <map>
#include <set>
#include <string>
#include <vector>

namespace pod::stage1 {

inline constexpr const char* kCgroupRecord = "stage1-state/cgroups";

// A cgroup hierarchy's mount under /sys/fs/cgroup: cgroup2, or v1 with its super options
// ("memory", "cpu", "cpuacct", "name=systemd", ...).
struct CgroupMount {
  std::string mount_point;
  bool v2 = false;
  std::set<std::string> options;
};
// From the text of /proc/self/mounts; one entry per mount point.
std::vector<CgroupMount> parse_cgroup_mounts(const std::string& proc_mounts);
// This process's (/proc/self/mounts).
std::vector<CgroupMount> cgroup_mounts();

struct CgroupPlan {
  std::map<std::string, std::string> dirs;  // mount point -> the pod's cgroup dir in that hierarchy
  std::vector<std::string> unit_cgroups;    // the unit's cgroup dirs the pod goes below (cgroup2 ones last)
};
// Where pod `uuid` goes when its stage1 runs in service unit `unit` ("" for none) with the cgroups
// `proc_self_cgroup` (the text of /proc/self/cgroup): beneath the unit's cgroup in each hierarchy
// whose line's path ends in /<unit>, the default elsewhere.
CgroupPlan plan_pod_cgroups(const std::string& uuid, const std::string& unit, const std::vector<CgroupMount>& mounts,
                            const std::string& proc_self_cgroup);

// Run, before the pod's first process exists (cwd = $P): plan for this process's unit
// (sd::own_service_unit()), write the record atomically, then move this process into
// <unit cgroup>/supervisor and enable the unit's cgroup2 controllers (memory, cpu, pids) for the pod.
void place_pod_cgroups(const std::string& uuid);

// The pod's cgroup dir in the hierarchy mounted at `mount_point`: the record's (read from the
// cwd, $P, once per process; an error names a malformed one), else the default.
std::string pod_cgroup_in(const std::string& mount_point, const std::string& uuid);

}  // namespace pod::stage1
