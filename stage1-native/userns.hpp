// The native flavour in a user namespace: a rootless pod (Documentation/rootless.md).
// stage0 made the user namespace; here the pod's root gets what root would
// otherwise make: device nodes (bound from the host, as mknod is not allowed),
// and /sys when the pod shares the host's network namespace (which sysfs
// cannot be mounted for outside the initial user namespace).
#pragma once
#include <string>
#include <vector>

#include "resources.hpp"
#include "util/idmap.hpp"
#include "util/process.hpp"

namespace pod::stage1 {
struct RunContext;

// Before pivot_root, in the pod's mount namespace: <root>/dev as a tmpfs with
// the host's null, zero, full, random, urandom and tty bound in, a new devpts
// and /dev/shm (the init then keeps it); /proc of the pod's pid namespace and
// sysfs (with the host's network, which sysfs cannot be mounted for here: the
// host's /sys bound read-only, recursively): a user namespace may mount proc and
// sysfs only where they are visible already, which after pivot_root they are not.
void prepare_rootless_root(const std::string& root, bool host_net);

// --net=pasta: pasta(1) connects the network namespace of `pid` (the pod's
// init, not yet exec'ed) to the host's and forwards runtime.json's "publish"
// ports; returns once the namespace is configured. pasta is this process's
// child and is killed when this process ends ($P/pasta.pid has its pid).
inline constexpr const char* kPastaPidFile = "pasta.pid";
void start_pasta(const RunContext& o, pid_t pid);

// Child::start(argv, c) for --net=pasta: the child runs c.pre_exec, pasta is
// started on its network namespace, and only then does it exec argv.
Child start_after_pasta(const std::vector<std::string>& argv, ChildOptions c, const RunContext& o);

// --private-users (runtime.json privateUsers, Documentation/isolation.md): a
// root pod in a user namespace of its own, made by the clone (CLONE_NEWUSER),
// its id maps written by us before the child goes on (ChildOptions::after_spawn).
// Here, before the clone: the pod's cgroups (v2 `cgroup2_dir`, and the v1
// ones, made here) delegated to the pod's root. Returns a user namespace with
// the pod's ids, for idmapped mounts.
UniqueFd prepare_private_users(const RunContext& o, int cgroup2_dir, const std::vector<V1Cgroup>& v1, ChildOptions& c);
// In the child: a copy of the mount tree at our cwd (the stage1 rootfs)
// mounted over it, made our cwd: a mount of the pod's own, not one locked
// (MNT_LOCKED) by the copy of the host's mounts into its mount namespace.
void remount_cwd_unlocked();
// In the child, first: become uid and gid 0 of the new namespace (the host's
// root is not mapped in it), with no supplementary groups.
void become_userns_root();

// Make `dir` our cwd for the life of this object (and return after): the
// child's, which it inherits, so that it never looks up a path of the host's.
class CwdForClone {
 public:
  explicit CwdForClone(const std::string& dir);
  ~CwdForClone();
  CwdForClone(const CwdForClone&) = delete;
  CwdForClone& operator=(const CwdForClone&) = delete;

 private:
  UniqueFd ours_;
};

// Join the pod's CNI network namespace for the life of this object (and
// return to ours after): a child cloned into a user namespace of its own
// cannot join a namespace of the host's, so it is born in it.
class NetnsForClone {
 public:
  explicit NetnsForClone(const std::string& pod_path);
  ~NetnsForClone();
  NetnsForClone(const NetnsForClone&) = delete;
  NetnsForClone& operator=(const NetnsForClone&) = delete;

 private:
  UniqueFd ours_;
};

}  // namespace pod::stage1
