// The pod's cgroups of the cgroup v1 resource controllers (memory, cpu, pids)
// on v1 and hybrid hosts, host side (Documentation/isolation.md "cgroups").
// systemd-nspawn runs the pod with the unified (v2) hierarchy only; where the
// host's resource controllers are v1 (hybrid), the run entrypoint makes
// pod/pod-<uuid> in each controller the pod's apps need, joins it (so nspawn,
// the init and every app are in it) and binds it into the stage1 rootfs at
// kV1InRoot/<controller>, where the pod init makes each app's cgroup.
#pragma once
#include <string>
#include <vector>

#include "contract/manifest.hpp"

namespace pod::stage1 {

inline constexpr const char* kV1InRoot = "/run/pod-cgroup";

struct V1Cgroup {
  std::string controller;  // "memory", "cpu", "pids"
  std::string dir;         // <mount>/pod/pod-<uuid>, or beneath a unit (cgroupplaces.hpp)
};

// The v1 controllers the pod's apps' isolators need (a sandbox's: all of them)
// that this host has as v1 hierarchies; empty on a v2-only host or when no app
// has resource limits.
std::vector<V1Cgroup> pod_v1_cgroups(const contract::PodManifest& m, const std::string& uuid);
// The pod's dir in every v1 resource controller's hierarchy (for removal, enter).
std::vector<std::string> all_v1_cgroup_dirs(const std::string& uuid);
// Make them and move the calling process into them.
void join_v1_cgroups(const std::vector<V1Cgroup>& cgs);

// --private-users: a cgroup (the open dir `dir`) delegated to the pod's root,
// host uid and gid `owner` (cgroup-v2.rst "Delegation"): the dir and the files
// that move processes and enable controllers. `what` names it in errors.
void delegate_cgroup(int dir, uint32_t owner, const std::string& what);
// Make the v1 cgroups and delegate each to `owner`.
void make_delegated_v1_cgroups(const std::vector<V1Cgroup>& cgs, uint32_t owner);

}  // namespace pod::stage1
