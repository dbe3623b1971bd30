// The pod init: PID 1 of a pod, flavour-agnostic (systemd-nspawn container or
// KVM guest). Its root is the stage1 rootfs, the pod dir is at /pod and each
// app's rootfs at /opt/stage2/<app>/rootfs. See Documentation/stage1-nspawn.md.
//
//   init [--debug]                                    run the pod
//   init enter --app=<name> [--debug] -- <cmd> [args] exec cmd as the app would
//                                                     run (used by stage1 enter)
#include <fcntl.h>
#include <sys/reboot.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "cgroups.hpp"
#include "config.hpp"
#include "exec.hpp"
#include "log.hpp"
#include "rootfs.hpp"
#include "supervisor.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"

using namespace pod;
using namespace pod::init;

namespace {

constexpr const char* kPodDir = poddir::kPodInRoot;

void record_failure(int pod_dirfd, const std::string& why) {
  log_error(why);
  if (pod_dirfd < 0) return;
  try {
    write_file_atomic_at(pod_dirfd, poddir::kFailure, why + "\n", 0644, Durability::kVolatile);
  } catch (const Error& e) {
    log_error("cannot record the failure: " + std::string(e.what()));
  }
}

// A flavour that has no supervisor process of its own around us (native)
// hands us the pod lock: keep it for the life of the pod, not for the apps.
void keep_pod_lock() {
  const char* fd = ::getenv("POD_INIT_LOCK_FD");
  if (!fd) return;
  if (::fcntl(std::atoi(fd), F_SETFD, FD_CLOEXEC) < 0) log_error(std::string("POD_INIT_LOCK_FD ") + fd + ": " + std::strerror(errno));
  ::unsetenv("POD_INIT_LOCK_FD");
}

int run_mode(bool debug) {
  set_debug(debug);
  keep_pod_lock();
  log_debug("pod init started");
  UniqueFd pod_dir;
  int status = kExitStage1Failure;
  try {
    pod_dir = open_dir(kPodDir);
    PodConfig cfg = load_config(pod_dir.get());
    set_debug(debug || cfg.runtime.debug);
    ensure_api_filesystems();
    const std::string& h = cfg.runtime.hostname;
    if (!h.empty() && ::sethostname(h.c_str(), h.size()) < 0) throw_sys("cannot set the hostname to " + h);
    status = run_pod(cfg, pod_dir.get());
  } catch (const std::exception& e) {
    record_failure(pod_dir.get(), e.what());
    status = kExitStage1Failure;
  }
  // The run entrypoint tells "the pod ended with status N" from "the init or
  // the flavour failed" by this record.
  if (pod_dir) {
    try {
      UniqueFd state = mkdirs_at(pod_dir.get(), poddir::kStateDir);
      write_file_atomic_at(state.get(), "exit-status", std::to_string(status) + "\n", 0644,
                           Durability::kVolatile);
    } catch (const Error& e) {
      log_error(e.what());
    }
  }
  if (const char* on_exit = ::getenv("POD_INIT_ON_EXIT"); on_exit && std::strcmp(on_exit, "poweroff") == 0) {
    ::sync();
    ::reboot(RB_POWER_OFF);  // a VM guest's PID 1 must not just exit
  }
  return status;
}

int enter_mode(int argc, char** argv) {
  std::string app_name;
  std::vector<std::string> cmd;
  int i = 2;
  for (; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--") {
      ++i;
      break;
    }
    if (a.rfind("--app=", 0) == 0) app_name = a.substr(6);
    else if (a == "--debug") set_debug(true);
    else throw usage_error("enter: unknown argument " + a);
  }
  for (; i < argc; ++i) cmd.emplace_back(argv[i]);
  if (app_name.empty() || cmd.empty()) throw usage_error("usage: init enter --app=<name> -- <cmd> [args...]");
  UniqueFd pod_dir = open_dir(kPodDir);
  PodConfig cfg = load_config(pod_dir.get());
  const App* app = cfg.app(app_name);
  if (!app) throw Error("no app named " + app_name + " in this pod", 0, ErrorKind::Usage);
  join_app_cgroups(app->name);
  ExecSpec spec = prepare_exec(*app, true, cmd);
  exec_app(spec);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc >= 2 && std::strcmp(argv[1], "enter") == 0) {
    try {
      return enter_mode(argc, argv);
    } catch (const Error& e) {
      log_error(e.what());
      return e.kind() == ErrorKind::Usage ? 2 : 127;
    }
  }
  bool debug = false;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--debug") == 0) debug = true;
    else {
      log_error(std::string("unknown argument ") + argv[i]);
      return 2;
    }
  }
  return run_mode(debug);
}
