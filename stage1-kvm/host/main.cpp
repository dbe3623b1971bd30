// stage1-kvm: the host side of the kvm stage1 flavour. One binary, four
// entrypoints (Documentation/stage1-abi.md), chosen by the name it is run as
// (run, enter, stop, gc; symlinks in the stage1 image) or by its first
// argument. The working directory is always the pod dir $P.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/mount.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>  // WIFEXITED & co.
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "../common/frame.hpp"
#include "console.hpp"
#include "notify.hpp"
#include "probe.hpp"
#include "../../stage1/common.hpp"
#include "contract/apporder.hpp"
#include "contract/poddir.hpp"
#include "stage1abi/stage1.hpp"
#include "systemd/journal.hpp"
#include "systemd/machine.hpp"
#include "util/error.hpp"
#include "util/fd.hpp"
#include "util/fs.hpp"
#include "vm.hpp"
#include "hostutil.hpp"
#include "netsetup.hpp"

using json = nlohmann::json;
using pod::UniqueFd;


namespace podkvm {
// ---- run ------------------------------------------------------------------
namespace {

struct RunArgs {
  bool interactive = false;
  std::string uuid;
};

void write_failure(const std::string& msg) {
  try {
    UniqueFd d = pod::open_dir(".");
    pod::write_file_atomic_at(d.get(), pod::poddir::kFailure, msg + "\n");
  } catch (...) {
  }
  warn(msg);
}

int pod_status(int pdir, const std::vector<std::string>& apps, const std::string& how, const std::string& P);

// The directory virtiofsd/9p share for a host volume: its source, or for
// recursive=false a bind of it without submounts in this (the pod's private)
// mount namespace, which vanishes with the pod.
std::string shared_source(int pdir, const Volume& v) {
  if (v.recursive) return v.source;
  const char* priv = getenv("POD_PRIVATE_MOUNT_NS");
  if (!priv || std::string(priv) != "1")
    throw pod::Error("volume \"" + v.name + "\": recursive=false needs the pod's private mount namespace");
  const std::string rel = std::string(kStateDir) + "/volume-" + v.name;
  pod::mkdirs_at(pdir, rel, 0700);
  const std::string dst = pod::fd_path(pdir) + "/" + rel;
  if (mount(v.source.c_str(), dst.c_str(), nullptr, MS_BIND, nullptr) != 0)
    throw pod::Error("volume \"" + v.name + "\": cannot bind " + v.source + ": " + strerror(errno), errno);
  return dst;
}

// A rootless pod (stage0 runs this in the user's user namespace and a mount
// namespace of its own): virtiofsd writes its pid file to /run/virtiofsd,
// which is the host root's. A tmpfs of our own there, in this namespace only;
// where the host has no such dir to mount on, a tmpfs over /run (the run
// entrypoint, qemu and virtiofsd need nothing else of the host's /run).
void private_virtiofsd_state_dir() {
  constexpr const char* kDir = "/run/virtiofsd";
  struct stat st {};
  if (stat(kDir, &st) != 0 && mount("tmpfs", "/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755") != 0)
    pod::throw_sys("rootless: cannot mount a tmpfs on /run for virtiofsd's state");
  mkdir(kDir, 0700);
  if (mount("tmpfs", kDir, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0700") != 0)
    pod::throw_sys(std::string("rootless: cannot mount a tmpfs on ") + kDir + " for virtiofsd's pid files");
}

int run_pod(const RunArgs& ra) {
  UniqueFd pdir = pod::open_dir(".");
  const std::string P = pod::fd_path(pdir.get());
  const pod::contract::PodManifest pm =
      pod::contract::parse_pod_manifest(pod::read_file_at(pdir.get(), pod::poddir::kManifest));
  const pod::contract::Runtime runtime =
      pod::contract::parse_runtime(pod::try_read_file_at(pdir.get(), pod::poddir::kRuntime).value_or(""));
  if (runtime.debug) g_debug = true;
  const bool interactive = ra.interactive || runtime.interactive;

  const std::vector<std::string> apps = pm.app_names();
  if (apps.empty() && !pod::contract::is_sandbox(pm)) throw pod::Error("the pod manifest has no apps");

  Paths paths = find_paths();
  if (access(paths.kernel.c_str(), R_OK) != 0) throw pod::Error("guest kernel " + paths.kernel + " not readable");
  if (access(paths.initrd.c_str(), R_OK) != 0) throw pod::Error("initramfs " + paths.initrd + " not readable");

  Choice choice = resolve_choice(runtime, getenv("POD_KVM_HYPERVISOR"), getenv("POD_KVM_ACCEL"));
  Hypervisor hyp = Hypervisor::Qemu;
  if (choice.hypervisor == "lkvm") {
    if (paths.lkvm.empty()) throw pod::Error("hypervisor lkvm requested but lkvm is not on PATH");
    hyp = Hypervisor::Lkvm;
  } else if (choice.hypervisor == "auto" && !paths.lkvm.empty() && initrd_has_9p(paths.initrd_info) &&
             runtime.networks.empty() && kvm_device_problem().empty()) {
    hyp = Hypervisor::Lkvm;
  }
  if (hyp == Hypervisor::Lkvm && !initrd_has_9p(paths.initrd_info))
    warn("lkvm shares directories over 9p, which the guest kernel of this stage1 image lacks; "
         "the guest will not find the pod dir (see Documentation/stage1-kvm.md)");
  if (hyp == Hypervisor::Qemu && paths.qemu.empty()) throw pod::Error("qemu-system-x86_64 not found");
  if (hyp == Hypervisor::Qemu && paths.virtiofsd.empty()) throw pod::Error("virtiofsd not found");

  VmSpec vm;
  vm.uuid = ra.uuid;
  vm.kernel = paths.kernel;
  vm.initrd = paths.initrd;
  vm.cpus = vm_cpus(pm, runtime);
  vm.memory_mib = vm_memory_mib(pm, runtime);
  vm.debug = g_debug;
  vm.machine = getenv_str("POD_KVM_MACHINE").empty() ? "pc" : getenv_str("POD_KVM_MACHINE");
  vm.kernel_cmdline_extra = getenv_str("POD_KVM_CMDLINE");
  if (hyp == Hypervisor::Lkvm) {
    vm.accel = Accel::Kvm;
    if (choice.accel == "tcg") warn("lkvm needs KVM; ignoring accel=tcg");
  } else if (choice.accel == "kvm") {
    if (std::string why = kvm_device_problem(); !why.empty()) throw pod::Error("accel=kvm requested but " + why);
    vm.accel = Accel::Kvm;
  } else if (choice.accel == "tcg") {
    vm.accel = Accel::Tcg;
  } else {
    AccelVerdict v = kvm_verdict(paths.qemu, paths.kernel, paths.initrd);
    vm.accel = v.kvm ? Accel::Kvm : Accel::Tcg;
    if (!v.kvm)
      warn("KVM is not usable (" + v.reason + "); using qemu TCG software emulation, which is slower. "
           "Force with accel=kvm|tcg or POD_KVM_ACCEL.");
  }

  pod::mkdirs_at(pdir.get(), kStateDir, 0700);
  UniqueFd sdir = pod::open_dir_at(pdir.get(), kStateDir);
  for (const auto& n : pod::list_dir(sdir.get()))
    if (n.size() > 5 && n.substr(n.size() - 5) == ".sock") unlinkat(sdir.get(), n.c_str(), 0);
  for (const char* stale : {"stop-request", "exit-status", "force-stopped"}) unlinkat(sdir.get(), stale, 0);
  pod::stage1::fresh_app_ready_dir(pdir.get());  // the guest agent records the apps' READY=1 there
  // Before virtiofsd starts: app-ops finds the namespace it serves $P from by
  // this pid (checked against the pod's uuid, as a stale file may name another process).
  pod::write_file_atomic_at(sdir.get(), kRunPidFile, std::to_string(getpid()) + "\n", 0644);
  // Interactive: qemu's console goes through ConsoleRelay; lkvm keeps stdio.
  std::optional<ConsoleRelay> console;
  if (!interactive) {
    vm.console_log = std::string(kStateDir) + "/console.log";
  } else if (hyp == Hypervisor::Qemu) {
    vm.console_socket = sock_path("console.sock");
    vm.console_pipe = !ConsoleRelay::stdin_is_tty();
    console.emplace(vm.console_socket);
  }
  vm.ctl_socket = sock_path(kCtlSocket);
  vm.enter_socket = sock_path(kEnterSocket);
  vm.qmp_socket = sock_path(kQmpSocket);

  // Network: --net=none is no NIC at all; CNI networks (the default) a NIC
  // per network on a tap in $P/netns (tapnet.hpp); --net=host the VMM's
  // user-mode NAT, --net=pasta (rootless) the same through passt with the
  // published ports. The pod init gets a resolv.conf to use (stage1-abi:
  // stage1-state/resolv.conf, unless --dns was given).
  if (runtime.networks.empty() && runtime.net != "host" && runtime.net != "none" &&
      runtime.net != pod::contract::kNetPasta)
    throw pod::Error("--net=" + runtime.net + " names no network in runtime.json");
  if (!runtime.networks.empty() && hyp == Hypervisor::Lkvm)
    throw pod::Error("CNI networks (--net=" + runtime.net + ") need the qemu hypervisor: lkvm takes no tap device fd");
  vm.user_net = runtime.net == "host" || runtime.net == pod::contract::kNetPasta;
  if (runtime.net == pod::contract::kNetPasta) {
    if (hyp != Hypervisor::Qemu) throw pod::Error("--net=pasta needs qemu: lkvm cannot be given passt's socket");
    vm.passt_socket = sock_path("passt.sock");
  }
  unlinkat(pdir.get(), (std::string(kStateDir) + "/resolv.conf").c_str(), 0);
  const int64_t net_start = now_ms();
  KvmNetworks nets({pdir.get(), P, ra.uuid, pod::cni::host_mntns_fd_from_env()}, runtime);
  if (nets.joined()) debug("joined the CNI networks in " + std::to_string(now_ms() - net_start) + " ms");
  UniqueFd netns;
  for (const auto& n : nets.nics()) vm.taps.push_back({n.tap_fd.get(), n.mac});
  if (nets.joined()) {
    netns = UniqueFd(open((P + "/" + pod::cni::kNetns).c_str(), O_RDONLY | O_CLOEXEC));
    if (!netns) pod::throw_sys("cannot open " + P + "/" + pod::cni::kNetns);
  }
  if (vm.user_net || nets.joined()) {
    std::string dns = user_net(hyp).dns;
    std::string conf = nets.joined() ? nets.resolv_conf()
                       : dns.empty() ? pod::try_read_file_at(AT_FDCWD, "/etc/resolv.conf", 65536).value_or("")
                                     : "nameserver " + dns + "\n";
    pod::write_file_atomic_at(pdir.get(), std::string(kStateDir) + "/resolv.conf", conf, 0644,
                              pod::Durability::kVolatile);
  }

  // Shares: the pod dir, then one per host volume.
  auto share_socket = [&](size_t i) { return sock_path(ra.uuid + "-fs" + std::to_string(i) + ".sock"); };
  vm.shares.push_back({"pod", P, share_socket(0), false, true});
  json gvols = json::array();
  for (const auto& v : pod_volumes(pm)) {
    if (v.kind != "host") continue;  // kind=empty volumes live in the pod dir, which the guest has
    struct stat st;
    if (stat(v.source.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
      throw pod::Error("volume \"" + v.name + "\": " + v.source + " is not a directory");
    std::string tag = "vol" + std::to_string(vm.shares.size());
    vm.shares.push_back({tag, shared_source(pdir.get(), v), share_socket(vm.shares.size()), v.read_only});
    gvols.push_back({{"name", v.name}, {"readOnly", v.read_only}, {"tag", tag}});
  }
  // sd_notify: the guest binds the sockets, we get what it relays.
  const pod::contract::NotifyPlan plan = pod::contract::notify_plan(runtime, pm);
  std::optional<GuestNotify> notify;
  if (hyp == Hypervisor::Qemu) {
    vm.notify_socket = sock_path("notify.sock");
    notify.emplace(vm.notify_socket, pod::sd::PodNotifier(plan.mode, plan.apps));
  } else if (plan.mode != "none") {
    warn("lkvm has no virtio-serial port for sd_notify: READY=1 is not relayed (see Documentation/stage1-kvm.md)");
  }
  auto journal = pod::sd::JournalForwarder::open(pdir.get(), ra.uuid, apps);  // only where journald runs
  // The apps' output to our stdout/stderr: the guest sends the pod init's
  // over pod.notify (qemu only; lkvm has no such port, see stage1-kvm.md),
  // unless they are the journal, which the forwarder feeds already.
  const bool relay_output = notify && !interactive && !(journal && pod::sd::stdio_is_journal());
  if (relay_output) {
    signal(SIGPIPE, SIG_IGN);  // a reader that went away ends the copy, not us
    notify->relay_output();
  }
  json guest = {{"volumes", gvols}, {"debug", g_debug}, {"stopTimeout", 10}, {"notifyApps", plan.apps},
                {"relayOutput", relay_output}};
  if (nets.joined()) guest["nics"] = guest_nics_json(nets.nics());
  if (vm.user_net && !runtime.metadata_url.empty())  // the VM's loopback is not the host's
    guest["metadataURL"] = user_net_metadata_url(runtime.metadata_url, hyp);
  pod::write_file_atomic_at(sdir.get(), "guest.json", guest.dump() + "\n");

  sigset_t mask;
  sigemptyset(&mask);
  for (int s : {SIGCHLD, SIGTERM, SIGINT, SIGHUP}) sigaddset(&mask, s);
  sigprocmask(SIG_BLOCK, &mask, nullptr);
  UniqueFd sfd(signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK));

  std::vector<pod::Child> helpers;
  std::vector<std::string> argv, argv_memfd;
  std::string ram_dir;
  const std::string vmm_log = std::string(kStateDir) + "/vmm.log";
  if (hyp == Hypervisor::Qemu) {
    if (runtime.rootless) private_virtiofsd_state_dir();
    std::string pids;
    for (const auto& s : vm.shares) {
      auto a = virtiofsd_argv(paths.virtiofsd, s);
      debug("starting " + join(a));
      helpers.push_back(spawn(a, std::string(kStateDir) + "/virtiofsd.log", true, false));
      pids += std::to_string(helpers.back().pid()) + "\n";
    }
    if (!vm.passt_socket.empty()) {
      auto a = passt_argv(vm, runtime.publish);
      debug("starting " + join(a));
      helpers.push_back(spawn(a, std::string(kStateDir) + "/passt.log", true, false));
      pids += std::to_string(helpers.back().pid()) + "\n";
    }
    pod::write_file_atomic_at(sdir.get(), "helpers", pids);
    std::vector<std::pair<std::string, std::string>> sockets;  // {what makes it, path}
    for (const auto& s : vm.shares) sockets.emplace_back("virtiofsd", s.socket);
    if (!vm.passt_socket.empty()) sockets.emplace_back("passt", vm.passt_socket);
    for (const auto& [who, path] : sockets) {
      int64_t end = now_ms() + 10000;
      while (access(path.c_str(), F_OK) != 0) {
        if (now_ms() > end) throw pod::Error(who + " did not create " + path);
        usleep(5000);
      }
    }
    argv_memfd = qemu_argv(paths.qemu, vm);
    // Guest RAM on a huge-page tmpfs that the VMM mounts over this empty dir
    // in its own mount namespace (vm.cpp says why), else a memfd.
    if (mkdirat(sdir.get(), "ram", 0700) == 0 || errno == EEXIST) {
      VmSpec huge = vm;
      huge.ram_dir = ram_dir = std::string(kStateDir) + "/ram";
      argv = qemu_argv(paths.qemu, huge);
    } else {
      argv = argv_memfd;
    }
  } else {
    argv = argv_memfd = lkvm_argv(paths.lkvm, vm);
  }
  debug(std::string("hypervisor ") + to_string(hyp) + ", accel " + to_string(vm.accel) + ": " + join(argv));
  const bool vmm_stdio = interactive && !console;  // lkvm
  pod::Child vmm = spawn(argv, vmm_log, !vmm_stdio, vmm_stdio, [&] {
    // In the pod's netns (qemu needs no other network), with the taps' fds.
    if (netns && setns(netns.get(), CLONE_NEWNET) != 0) pod::throw_sys("cannot enter the pod's network namespace");
    for (const auto& t : vm.taps)
      if (fcntl(t.fd, F_SETFD, 0) != 0) pod::throw_sys("tap fd");
    if (ram_dir.empty() || mount_private_huge_tmpfs(ram_dir)) return;
    // Only the child can tell: then the memfd command line instead.
    fprintf(stderr, "stage1-kvm: no huge-page tmpfs for the guest RAM (%s); using a memfd\n", strerror(errno));
    pod::exec_argv(argv_memfd);
  });
  pod::write_file_atomic_at(pdir.get(), pod::poddir::kPid, std::to_string(vmm.pid()) + "\n");
  bool registered = false;
  try {
    registered = pod::sd::register_machine({ra.uuid, vmm.pid(), "", "vm", "pod"});  // only when systemd runs
  } catch (const std::exception& e) {
    warn(std::string("cannot register with systemd-machined: ") + e.what());
  }

  int vmm_status = -1;
  int64_t force_at = -1;
  int stops = 0;
  while (vmm_status < 0) {
    std::vector<pollfd> p = {{sfd.get(), POLLIN, 0}};
    if (notify) notify->add_pollfds(p);
    if (console) console->add_pollfds(p);
    if (journal) p.push_back({journal->fd(), POLLIN, 0});
    int timeout = force_at < 0 ? -1 : static_cast<int>(std::max<int64_t>(0, force_at - now_ms()));
    poll(p.data(), p.size(), timeout);
    if (notify) notify->handle(p);
    if (console) {
      if (notify && notify->apps_started()) console->open_input();
      console->handle(p);
    }
    if (journal && (p.back().revents & POLLIN)) journal->pump();
    signalfd_siginfo si;
    while (read(sfd.get(), &si, sizeof si) == sizeof si) {
      if (si.ssi_signo == SIGCHLD) continue;
      stops++;
      if (stops == 1) {
        debug("signal " + std::to_string(si.ssi_signo) + ": asking the guest to stop");
        request_stop("graceful", 500);
        force_at = now_ms() + 30000;
      } else {
        debug("second signal: killing the VMM");
        vmm.signal(SIGKILL);
      }
    }
    if (force_at >= 0 && now_ms() >= force_at) {
      warn("the guest did not stop in time, killing the VMM");
      vmm.signal(SIGKILL);
      force_at = -1;
    }
    for (auto& h : helpers) h.try_wait();  // a helper that died early is no zombie
    if (vmm.try_wait()) vmm_status = *vmm.status();
  }
  if (journal) journal->finish();
  if (console) console->drain();
  if (notify) notify->finish(1000);
  if (registered) pod::sd::terminate_machine(ra.uuid);
  for (const auto& h : helpers) h.signal(SIGTERM);
  for (auto& h : helpers)
    if (!h.wait_for(2000)) h.kill_and_wait();
  for (const auto& n : pod::list_dir(sdir.get()))
    if (n.size() > 5 && n.substr(n.size() - 5) == ".sock") unlinkat(sdir.get(), n.c_str(), 0);
  const int64_t leave_start = now_ms();
  nets.leave();
  if (nets.joined()) debug("left the CNI networks in " + std::to_string(now_ms() - leave_start) + " ms");

  std::string how = WIFEXITED(vmm_status) ? "exited with status " + std::to_string(WEXITSTATUS(vmm_status))
                                          : "was killed by signal " + std::to_string(WTERMSIG(vmm_status));
  debug("the VMM " + how);
  return pod_status(pdir.get(), apps, "the VMM " + how, P);
}

// The pod exit status after the VM is gone, as the nspawn flavour reports it:
// the pod init's own record (stage1-state/exit-status), else the apps' exit
// records, else 137 after stop --force, else a failure of ours (125).
int pod_status(int pdir, const std::vector<std::string>& apps, const std::string& how, const std::string& P) {
  if (auto rec = pod::try_read_file_at(pdir, std::string(kStateDir) + "/exit-status", 64)) {
    char* end = nullptr;
    long v = strtol(rec->c_str(), &end, 10);
    if (end != rec->c_str()) return static_cast<int>(v);
  }
  std::vector<std::optional<json>> records;
  UniqueFd st_dir = pod::try_open_dir_at(pdir, pod::poddir::kAppStatusDir);
  for (const auto& a : apps) {
    std::optional<json> rec;
    if (st_dir)
      if (auto s = pod::try_read_file_at(st_dir.get(), a)) {
        json j = json::parse(*s, nullptr, false);
        if (!j.is_discarded()) rec = j;
      }
    records.push_back(rec);
  }
  if (auto status = pod_exit_status(apps, records)) return *status;
  if (pod::exists_at(pdir, std::string(kStateDir) + "/force-stopped")) {
    if (!pod::exists_at(pdir, pod::poddir::kFailure)) write_failure("pod was killed by stop --force");
    return 128 + SIGKILL;
  }
  write_failure("stage1-kvm: the VM ended without an app exit record (" + how + "; see " + P + "/" + kStateDir +
                "/console.log)");
  return kExitFailure;
}

}  // namespace

int cmd_run(const std::vector<std::string>& args) {
  RunArgs ra;
  for (const auto& a : args) {
    if (a == "--debug") g_debug = true;
    else if (a == "--interactive") ra.interactive = true;
    else if (!a.empty() && a[0] == '-') {
      debug("ignoring unknown flag " + a);
    } else ra.uuid = a;
  }
  const std::string lock = getenv_str("POD_LOCK_FD");
  if (ra.uuid.empty() || lock.empty()) {
    write_failure("stage1-kvm run: usage: run [--debug] [--interactive] UUID, with POD_LOCK_FD set");
    return kExitFailure;
  }
  // Keep the lock for the whole life of the pod, but do not let the VMM or
  // virtiofsd inherit it: when this process ends, the pod has ended.
  int lock_fd = atoi(lock.c_str());
  if (fcntl(lock_fd, F_GETFD) < 0) {
    write_failure("stage1-kvm run: POD_LOCK_FD " + lock + " is not open");
    return kExitFailure;
  }
  fcntl(lock_fd, F_SETFD, FD_CLOEXEC);
  try {
    return run_pod(ra);
  } catch (const std::exception& e) {
    write_failure(std::string("stage1-kvm: ") + e.what());
    return kExitFailure;
  }
}

}  // namespace podkvm

int main(int argc, char** argv) {
  std::string name = argv[0];
  name = name.substr(name.rfind('/') + 1);
  std::vector<std::string> args(argv + 1, argv + argc);
  const bool known = name == "run" || name == "enter" || name == "stop" || name == "gc" || name == "kill" ||
                     name == "pause" || name == "resume" || name == "stats" || name == "app-ops";
  if (!known) {
    if (args.empty()) {
      std::cerr << "usage: stage1-kvm run|enter|stop|gc|kill|pause|resume|stats|app-ops|probe ARGS...\n";
      return 2;
    }
    name = args[0];
    args.erase(args.begin());
  }
  try {
    if (name == "run") return podkvm::cmd_run(args);
    if (name == "enter") return podkvm::cmd_enter(args);
    if (name == "stop") return podkvm::cmd_stop(args);
    if (name == "gc") return podkvm::cmd_gc(args);
    if (name == "probe") return podkvm::cmd_probe();
    if (name == "kill") return podkvm::cmd_kill(args);
    if (name == "pause" || name == "resume") return podkvm::cmd_pause(args, name == "pause");
    if (name == "stats") return podkvm::cmd_stats(args);
    if (name == "app-ops") return known ? podkvm::cmd_app_ops(argc, argv) : podkvm::cmd_app_ops(argc - 1, argv + 1);
  } catch (const std::exception& e) {
    std::cerr << "stage1-kvm " << name << ": " << e.what() << "\n";
    return podkvm::kExitFailure;
  }
  std::cerr << "stage1-kvm: unknown entrypoint " << name << "\n";
  return 2;
}
