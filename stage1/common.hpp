// Shared by the nspawn flavour's host-side entrypoints (run, enter, stop, gc):
// the files they exchange in the pod dir, the pod's cgroups, tiny argv parsing.
#pragma once
#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "contract/poddir.hpp"
#include "util/error.hpp"
#include "util/fd.hpp"

namespace pod::stage1 {

// Pod-dir files private to this flavour (under stage1-state/).
inline constexpr const char* kNotifySocket = "stage1-state/notify";      // init -> run datagrams
inline constexpr const char* kAppNotifyDir = "stage1-state/notify-apps";  // app -> run, one socket per app
inline constexpr const char* kForceStopped = "stage1-state/force-stopped";  // written by stop --force
inline constexpr const char* kControlSocket = "stage1-state/control.sock";  // the pod init's (init/control.hpp)
inline constexpr const char* kResolvConf = "stage1-state/resolv.conf";   // host's, for net=host

// A failure of the stage1 itself (ABI: write `failure`, exit 125).
inline constexpr int kExitFailure = kExitStage1Failed;

// The pid in $P/pid (cwd-relative dirfd), if any.
std::optional<pid_t> read_pid(int pod_dirfd);
// Does `pid` belong to pod `uuid` (its cgroup path names the pod: every place
// cgroupplaces.hpp records ends in pod-<uuid>, machined's scope has it escaped)?
// Guards against a stale pid file naming a reused pid.
bool pid_belongs_to_pod(pid_t pid, const std::string& uuid);
// The same, or `pid` holds an fd on the pod dir `pod_dirfd` (the pod lock, which
// the init holds): a rootless pod has no cgroup of its own to tell.
bool pid_is_pods(pid_t pid, const std::string& uuid, int pod_dirfd);

// The pod's own cgroups (where cgroupplaces.hpp says: pod/pod-<uuid>, or
// beneath a service unit's cgroup) in the cgroup2 hierarchy and, on a hybrid
// host, in the name=systemd and freezer v1 hierarchies. systemd-nspawn --keep-unit
// puts its "payload" and "supervisor" cgroups beneath the one it starts in.
std::vector<std::string> pod_cgroup_dirs(const std::string& uuid);
// Is the cgroup v1 hierarchy mounted at `mount_point` the one of `controller`?
bool is_v1_hierarchy_of(const std::string& mount_point, const std::string& controller);
// Make them and move the calling process into them.
void join_pod_cgroups(const std::string& uuid);
// Make the pod's cgroup2 cgroup (only) and open it, for a child to be born
// in (ChildOptions::cgroup_fd); an empty fd where no cgroup2 tree is mounted.
UniqueFd make_pod_cgroup2(const std::string& uuid);
// Make the cgroup `dir` (and its parent, pod/) if missing, and open it.
UniqueFd make_cgroup(const std::string& dir);
// Join the network namespace of the pod at `pod_path` (the CNI netns file its
// stage0 made); errors name the file.
void join_pod_netns(const std::string& pod_path);
// Kill what is left in them and remove them; missing ones are fine.
void remove_pod_cgroups(const std::string& uuid);

// argv parsing: flags before the positional args; "--" ends them.
struct Args {
  std::vector<std::string> flags;        // "--debug", "--app=x", ...
  std::vector<std::string> positional;
  std::vector<std::string> rest;         // after "--"
  bool has(const std::string& flag) const;
  std::optional<std::string> value(const std::string& name) const;  // --name=value
};
Args parse_args(int argc, char** argv, const std::vector<std::string>& known_flags);

// $P/appready emptied of the last run's readiness records and open: the init
// watches the fresh dir (contract/appready.hpp).
UniqueFd fresh_app_ready_dir(int pod_dirfd);

// Runs `body`, printing "<prog>: <error>" and returning its exit code on pod::Error.
int guarded_main(const char* prog, int (*body)(int, char**), int argc, char** argv);

}  // namespace pod::stage1
