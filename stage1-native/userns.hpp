// The native flavour in a user namespace: a rootless pod (Documentation/rootless.md).
// stage0 made the user namespace; here the pod's root gets what root would
// otherwise make: device nodes (bound from the host, as mknod is not allowed),
// and /sys when the pod shares the host's network namespace (which sysfs
// cannot be mounted for outside the initial user namespace).
#pragma once
#include <string>

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

}  // namespace pod::stage1
