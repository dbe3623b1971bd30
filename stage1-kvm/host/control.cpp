// stage1-kvm host entrypoints enter, stop, gc and probe (run is in main.cpp).
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "../common/frame.hpp"
#include "contract/runtime.hpp"
#include "net/cni/podnet.hpp"
#include "probe.hpp"
#include "util/error.hpp"
#include "util/fd.hpp"
#include "util/fs.hpp"
#include "vm.hpp"
#include "hostutil.hpp"

using json = nlohmann::json;
using pod::UniqueFd;


namespace podkvm {
// ---- enter ----------------------------------------------------------------

int cmd_enter(const std::vector<std::string>& args) {
  std::string app, uuid;
  std::vector<std::string> cmd;
  size_t i = 0;
  for (; i < args.size(); i++) {
    const auto& a = args[i];
    if (a == "--") {
      i++;
      break;
    }
    if (a == "--debug") g_debug = true;
    else if (a.rfind("--app=", 0) == 0) app = a.substr(6);
    else if (a == "--tty") {
      // Pipes only for now; the command still runs.
    } else if (!a.empty() && a[0] != '-') uuid = a;
  }
  for (; i < args.size(); i++) cmd.push_back(args[i]);
  if (app.empty() || cmd.empty()) {
    warn("usage: enter [--debug] --app=NAME [--tty] UUID -- CMD [ARGS...]");
    return kExitFailure;
  }
  UniqueFd s;
  try {
    s = connect_unix(sock_path(kEnterSocket));
  } catch (const pod::Error& e) {
    warn(std::string("the pod is not running: ") + e.what());
    return kExitFailure;
  }
  json req = {{"app", app}, {"argv", cmd}};
  if (!send_frame(s.get(), kReqEnter, req.dump())) {
    warn("cannot send the enter request");
    return kExitFailure;
  }
  signal(SIGPIPE, SIG_IGN);
  bool in_open = true;
  char buf[65536];
  for (;;) {
    pollfd p[2] = {{s.get(), POLLIN, 0}, {in_open ? 0 : -1, POLLIN, 0}};
    if (poll(p, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return kExitFailure;
    }
    if (p[1].revents) {
      ssize_t n = read(0, buf, sizeof buf);
      if (n > 0) {
        send_frame(s.get(), kStdin, buf, static_cast<size_t>(n));
      } else {
        send_frame(s.get(), kStdinEof, "", 0);
        in_open = false;
      }
    }
    if (p[0].revents) {
      Frame f;
      if (!recv_frame(s.get(), f)) {
        warn("the connection to the guest agent broke");
        return kExitFailure;
      }
      switch (f.type) {
        case kStdout: write_all(1, f.data.data(), f.data.size()); break;
        case kStderr: write_all(2, f.data.data(), f.data.size()); break;
        case kExit: return atoi(f.data.c_str());
        case kError: warn("enter: " + f.data); return kExitFailure;
        default: break;
      }
    }
  }
}

// ---- stop -----------------------------------------------------------------

int cmd_stop(const std::vector<std::string>& args) {
  bool force = false;
  std::string uuid;
  for (const auto& a : args) {
    if (a == "--force") force = true;
    else if (a == "--debug") g_debug = true;
    else if (!a.empty() && a[0] != '-') uuid = a;
  }
  if (uuid.empty()) {
    warn("usage: stop [--force] UUID");
    return kExitFailure;
  }
  UniqueFd pdir = pod::open_dir(".");
  auto pid = read_pid_at(pdir.get());
  if (!pid || !is_pod_process(*pid, uuid)) {
    debug("no VMM running for pod " + uuid);
    return 0;
  }
  if (force) {
    pod::write_file_at(pdir.get(), std::string(kStateDir) + "/force-stopped", "");
    kill(*pid, SIGKILL);
    return 0;
  }
  // Delivered when acknowledged; the request file covers a guest that has not
  // opened its ctl port yet (it checks the file as well).
  int64_t end = now_ms() + 20000;
  while (now_ms() < end) {
    if (request_stop("graceful", 2000)) return 0;
    if (!is_pod_process(*pid, uuid)) return 0;
    usleep(200 * 1000);
  }
  warn("the guest did not acknowledge the stop request; it stays queued in " + std::string(kStateDir) +
       "/stop-request");
  return 0;
}

// ---- gc -------------------------------------------------------------------

int cmd_gc(const std::vector<std::string>& args) {
  std::string uuid;
  for (const auto& a : args) {
    if (a == "--debug") g_debug = true;
    else if (!a.empty() && a[0] != '-') uuid = a;
  }
  if (uuid.empty()) {
    warn("usage: gc [--debug] UUID");
    return kExitFailure;
  }
  UniqueFd pdir = pod::open_dir(".");
  std::vector<pid_t> pids;
  if (auto p = read_pid_at(pdir.get())) pids.push_back(*p);
  if (auto h = pod::try_read_file_at(pdir.get(), std::string(kStateDir) + "/helpers")) {
    std::istringstream in(*h);
    pid_t p;
    while (in >> p) pids.push_back(p);
  }
  int rc = 0;
  for (pid_t p : pids) {
    if (!is_pod_process(p, uuid)) continue;
    debug("killing leftover process " + std::to_string(p));
    kill(p, SIGKILL);
    if (!wait_gone(p, 5000)) {
      warn("process " + std::to_string(p) + " did not go away");
      rc = 1;
    }
  }
  if (UniqueFd sdir = pod::try_open_dir_at(pdir.get(), kStateDir)) {
    for (const auto& n : pod::list_dir(sdir.get()))
      if (n.size() > 5 && n.substr(n.size() - 5) == ".sock") unlinkat(sdir.get(), n.c_str(), 0);
  }
  // The CNI networks run did not leave (it was killed): DEL from net.json.
  const pod::contract::Runtime rt =
      pod::contract::parse_runtime(pod::try_read_file_at(pdir.get(), pod::poddir::kRuntime).value_or(""));
  if (!rt.networks.empty() || pod::exists_at(pdir.get(), pod::cni::kNetns)) {
    debug("leaving the pod's networks");
    pod::cni::teardown({pdir.get(), pod::fd_path(pdir.get()), uuid, -1}, rt.networks);
  }
  return rc;
}

int cmd_probe() {
  Paths p = find_paths();
  if (std::string why = kvm_device_problem(); !why.empty()) {
    std::cout << "tcg " << why << "\n";
    return 0;
  }
  AccelVerdict v = kvm_verdict(p.qemu, p.kernel, p.initrd);
  std::cout << (v.kvm ? "kvm " : "tcg ") << v.reason << "\n";
  return 0;
}

}  // namespace podkvm
