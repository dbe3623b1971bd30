// stage1-kvm host entrypoints kill, pause, resume and stats, and control()
// (Documentation/stage1-abi.md). kill and stats are requests to the pod init
// inside the guest (the ctl port relays them to its control socket,
// stage1/init/control.hpp); pause and resume stop and continue the whole VM
// over QMP; stats adds the VMM process's own usage as the pod's.
#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <iostream>

#include "../../stage1/init/control.hpp"
#include "../common/frame.hpp"
#include "hostutil.hpp"
#include "qmp.hpp"
#include "stage1abi/stage1.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"

namespace podkvm {

using pod::UniqueFd;

namespace {

struct LifecycleArgs {
  std::string uuid, app;
  std::optional<int> signal;
};

LifecycleArgs parse(const std::vector<std::string>& args, const char* usage) {
  LifecycleArgs a;
  for (const auto& s : args) {
    if (s == "--debug") g_debug = true;
    else if (s.rfind("--signal=", 0) == 0) a.signal = std::stoi(s.substr(9));
    else if (s.rfind("--app=", 0) == 0) a.app = s.substr(6);
    else if (!s.empty() && s[0] != '-' && a.uuid.empty()) a.uuid = s;
    else throw pod::usage_error(std::string("usage: ") + usage);
  }
  if (a.uuid.empty()) throw pod::usage_error(std::string("usage: ") + usage);
  return a;
}

pid_t running_vmm(const std::string& uuid) {
  UniqueFd pdir = pod::open_dir(".");
  auto pid = read_pid_at(pdir.get());
  if (!pid || !is_pod_process(*pid, uuid)) throw pod::Error("pod " + uuid + " has no running VM");
  return *pid;
}

}  // namespace

// One control request to the pod init through the guest agent.
json control(const json& req, int timeout_ms) {
  UniqueFd s = connect_unix(sock_path(kCtlSocket));
  if (!send_frame(s.get(), kReqControl, req.dump())) throw pod::Error("cannot send to the guest agent");
  pollfd p{s.get(), POLLIN, 0};
  if (poll(&p, 1, timeout_ms) <= 0) throw pod::Error("the guest agent did not answer", ETIMEDOUT);
  Frame f;
  if (!recv_frame(s.get(), f)) throw pod::Error("the connection to the guest agent broke");
  if (f.type == kError) throw pod::Error(f.data);
  if (f.type != kAck) throw pod::Error("unexpected answer from the guest agent");
  return json::parse(f.data);
}


int cmd_kill(const std::vector<std::string>& args) {
  auto a = parse(args, "kill [--debug] --signal=N [--app=NAME] UUID");
  if (!a.signal) throw pod::usage_error("kill: --signal=N is required");
  running_vmm(a.uuid);
  json req = {{"op", "kill"}, {"signal", *a.signal}};
  if (!a.app.empty()) req["app"] = a.app;
  std::cout << control(req, kGuestTimeoutMs).dump() << "\n";
  return 0;
}

int cmd_pause(const std::vector<std::string>& args, bool pause) {
  auto a = parse(args, pause ? "pause [--debug] UUID" : "resume [--debug] UUID");
  running_vmm(a.uuid);
  // Only qemu has QMP: lkvm can neither stop a VM nor have one stopped to continue.
  if (::access(sock_path(kQmpSocket).c_str(), F_OK) < 0) {
    if (!pause) return 0;
    std::cerr << "cannot pause: the VM of pod " << a.uuid << " has no QMP socket (lkvm cannot stop a VM)\n";
    return pod::stage1::kPauseRefused;
  }
  Qmp q = Qmp::connect(sock_path(kQmpSocket));
  q.execute(pause ? "stop" : "cont");
  return 0;
}

int cmd_stats(const std::vector<std::string>& args) {
  auto a = parse(args, "stats [--debug] UUID");
  pid_t vmm = running_vmm(a.uuid);
  json apps = json::object();
  // A paused VM cannot answer: only the VMM's numbers then.
  if (!pod::exists_at(AT_FDCWD, pod::poddir::kPaused)) apps = control({{"op", "stats"}}, kGuestTimeoutMs)["apps"];
  uint64_t guest_pids = 0;
  for (auto& [name, e] : apps.items()) {
    e["source"] = "guest-processes";
    guest_pids += e.value("pids", uint64_t(0));
  }
  pod::init::TreeUsage u = pod::init::tree_usage(vmm);
  json pod = {{"cpuNs", u.cpu_ns}, {"memoryBytes", u.memory_bytes}, {"source", "vmm"}};
  if (!apps.empty()) pod["pids"] = guest_pids;
  std::cout << json{{"pod", pod}, {"apps", apps}}.dump() << "\n";
  return 0;
}

}  // namespace podkvm
