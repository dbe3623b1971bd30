// app-ops of the flavours whose pod init is a host process (nspawn, native):
// the apps' trees go into the init's own mount namespace, requests to its
// control socket in the pod dir.
#include <fcntl.h>

#include "appops.hpp"
#include "common.hpp"
#include "init/control.hpp"
#include "util/error.hpp"

using namespace pod;
using namespace pod::stage1;

namespace {

int app_ops_main(int argc, char** argv) {
  AppOpsTarget t;
  t.ns_pid = [] {
    const auto pid = read_pid(AT_FDCWD);
    if (!pid) throw Error("the pod has no pid file yet (is it starting?)");
    return *pid;
  };
  t.control = [](const nlohmann::json& req, int fd) { return init::control_request(kControlSocket, req, 5000, fd); };
  return app_ops(argc, argv, t);
}

}  // namespace

int main(int argc, char** argv) { return guarded_main("app-ops", app_ops_main, argc, argv); }
