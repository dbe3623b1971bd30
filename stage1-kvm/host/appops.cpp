// stage1-kvm host entrypoint app-ops: apps in a running VM pod (stage1/appops.hpp,
// Documentation/stage1-kvm.md "Apps in a running pod"). The guest sees $P
// through virtiofsd, which runs in the run entrypoint's mount namespace (the
// pod's private one): an added app's overlay is mounted there, below
// $P/stage1/rootfs, and the guest's pod init reaches it as it reaches the boot
// apps' trees. Requests go to that init over the ctl port; it cannot be handed
// a host file, so CRI log files are refused.
#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
#include <iostream>

#include "../../stage1/appops.hpp"
#include "../../stage1/common.hpp"
#include "contract/poddir.hpp"
#include "hostutil.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"

namespace podkvm {

int cmd_app_ops(int argc, char** argv) {
  char cwd[4096];
  if (!::getcwd(cwd, sizeof cwd)) pod::throw_sys("getcwd");
  const std::string pod_path = cwd;
  const std::string uuid = pod_path.substr(pod_path.rfind('/') + 1);  // cwd = $P = …/pods/run/<uuid>
  pod::stage1::AppOpsTarget t;
  t.ns_pid = [uuid] {
    auto s = pod::try_read_file_at(AT_FDCWD, std::string(kStateDir) + "/" + kRunPidFile, 64);
    const long pid = s ? std::strtol(s->c_str(), nullptr, 10) : 0;
    if (pid <= 0 || !is_pod_process(static_cast<pid_t>(pid), uuid))
      throw pod::Error("pod " + uuid + " has no running stage1 (" + kStateDir + "/" + kRunPidFile + ")");
    return static_cast<pid_t>(pid);
  };
  t.stage1_root = pod_path + "/" + pod::poddir::kStage1Rootfs;
  t.control = [](const json& req, int) { return control(req, kGuestTimeoutMs); };
  t.passes_fds = false;
  t.detach_on_remove = true;
  try {
    return pod::stage1::app_ops(argc, argv, t);
  } catch (const pod::Error& e) {  // as the other flavours' app-ops: 2 for a usage error
    std::cerr << "app-ops: " << e.what() << "\n";
    return e.kind() == pod::ErrorKind::Usage ? 2 : kExitFailure;
  }
}

}  // namespace podkvm
