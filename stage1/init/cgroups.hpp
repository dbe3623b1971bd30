// Per-app cgroups of the pod init: each app that has resource isolators
// (memory, cpu, cpu-shares, pids) gets a child cgroup app-<name> of the pod's
// cgroup, with its limits written there, and its process joins it before its
// exec (Documentation/isolation.md "cgroups").
//
// Where the pod's cgroup is, per controller:
// - cgroup v1 (and hybrid hosts): the stage1 makes the pod's cgroup of each v1
//   controller visible at $POD_INIT_CGROUP_V1/<controller> (the nspawn flavour
//   bind-mounts /sys/fs/cgroup/<controller>/pod/pod-<uuid> there);
// - cgroup v2: /sys/fs/cgroup, the pod's own cgroup (namespace) root; the
//   init moves itself to a leaf (pod-init) and enables the controllers for
//   the apps' cgroups.
// A controller an app needs and neither provides is an error: the limit is
// refused, not ignored.
#pragma once
#include <map>
#include <string>
#include <vector>

#include "config.hpp"
#include "util/fs.hpp"

namespace pod::init {

inline constexpr const char* kCgroupV1Env = "POD_INIT_CGROUP_V1";

// Write `value` to a control file (cgroup or /proc); errors name the file.
void write_control(const std::string& path, const std::string& value);

// `pod enter --app=NAME`: move the calling process into the cgroups the init
// made for app NAME (every hierarchy where app-NAME exists), so the entered
// command is under the app's limits. Nothing to do for an app without limits.
void join_app_cgroups(const std::string& app);

// A cgroup directory, and whether it is in the cgroup2 hierarchy.
struct CgroupDir {
  std::string dir;
  bool v2 = false;
};

class AppCgroup {
 public:
  AppCgroup() = default;
  // In the app's process before its exec: join every hierarchy.
  void join() const;
  // After the app ended: did the OOM killer kill something in it?
  bool oom_killed() const;
  bool empty() const { return procs_.empty(); }

 private:
  friend class PodCgroups;
  std::vector<UniqueFd> procs_;   // cgroup.procs, one per hierarchy
  // controller ("memory", "cpu", "pids") -> the app's cgroup dir there.
  std::map<std::string, CgroupDir> dirs_;
};

class PodCgroups {
 public:
  // Creates app-<name> with the app's limits; an empty AppCgroup when the app
  // has no resource isolators. Throws naming the app and the isolator when a
  // controller is missing.
  AppCgroup create(const App& app);
  // A running app's limits become `next` (`pod app update`): each controller's
  // limit is written anew, a limit `next` lacks is set back to none. Refused
  // (naming the app and the controller) when `next` needs a controller the app
  // has no cgroup of its own in: its processes cannot be told apart then.
  void update(const App& app, const isolators::Isolators& next, const AppCgroup& cg);

 private:
  // The directory of `controller`'s pod cgroup, and whether it is v2.
  CgroupDir where(const std::string& controller, const App& app, const char* isolator);
  void delegate_v2();
  static void write_limits(const AppCgroup& cg, const isolators::Isolators& iso, bool reset);
  bool v2_delegated_ = false;
};

}  // namespace pod::init
