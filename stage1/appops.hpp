// The app-ops entrypoint of every flavour (appops.cpp; Documentation/stage1-abi.md
// "app-ops"): what differs between flavours is where an app's tree is mounted
// and how the pod init is reached.
#pragma once
#include <sys/types.h>

#include <functional>
#include <nlohmann/json.hpp>
#include <string>

namespace pod::stage1 {

struct AppOpsTarget {
  // A process whose mount namespace gets the apps' overlays (checked to be the pod's).
  std::function<pid_t()> ns_pid;
  // Where the stage1 root is in that namespace: "/" for the pod init's own,
  // else the host path of $P/stage1/rootfs.
  std::string stage1_root = "/";
  // One control request to the pod init (init/control.hpp); `fd` (-1: none) goes along with it.
  std::function<nlohmann::json(const nlohmann::json& request, int fd)> control;
  bool passes_fds = true;         // false: --cri-log (a host file for the init) is refused
  bool detach_on_remove = false;  // the overlay is not in the init's namespace: unmount it on remove
};

// `app-ops OP [flags] UUID` (argv[1] = OP), cwd = $P; prints the init's reply.
int app_ops(int argc, char** argv, const AppOpsTarget& t);

}  // namespace pod::stage1
