// stage1-kvm: the host side of the kvm stage1 flavour. One binary, four
// entrypoints (Documentation/stage1-abi.md), chosen by the name it is run as
// (run, enter, stop, gc; symlinks in the stage1 image) or by its first
// argument. The working directory is always the pod dir $P.
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
#include "probe.hpp"
#include "util/error.hpp"
#include "util/fd.hpp"
#include "util/fs.hpp"
#include "vm.hpp"

using json = nlohmann::json;
using pod::UniqueFd;

namespace podkvm {
namespace {

constexpr int kExitFailure = 125;
constexpr char kStateDir[] = "stage1-state";

bool g_debug = false;

int64_t now_ms();

void debug(const std::string& msg) {
  static const int64_t start = now_ms();
  if (g_debug) std::cerr << "stage1-kvm: [+" << (now_ms() - start) << "ms] " << msg << "\n";
}

void warn(const std::string& msg) { std::cerr << "stage1-kvm: " << msg << "\n"; }

int64_t now_ms() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

std::string getenv_str(const char* name) {
  const char* v = getenv(name);
  return v ? v : "";
}

std::string which(const std::string& prog) {
  if (prog.find('/') != std::string::npos) return access(prog.c_str(), X_OK) == 0 ? prog : "";
  std::string path = getenv_str("PATH");
  if (path.empty()) path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
  std::istringstream in(path);
  std::string dir;
  while (std::getline(in, dir, ':')) {
    std::string p = (dir.empty() ? "." : dir) + "/" + prog;
    if (access(p.c_str(), X_OK) == 0) return p;
  }
  return "";
}

std::string exe_dir() {
  char buf[4096];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return ".";
  buf[n] = '\0';
  std::string p = buf;
  return p.substr(0, p.rfind('/'));
}

json read_json_at(int dirfd, const std::string& name, bool optional) {
  auto s = pod::try_read_file_at(dirfd, name);
  if (!s) {
    if (optional) return json::object();
    throw pod::Error("cannot read " + name);
  }
  json j = json::parse(*s, nullptr, false);
  if (j.is_discarded()) throw pod::Error(name + " is not valid JSON");
  return j;
}

std::optional<pid_t> read_pid_at(int dirfd) {
  auto s = pod::try_read_file_at(dirfd, "pid", 64);
  if (!s) return std::nullopt;
  char* end = nullptr;
  long v = strtol(s->c_str(), &end, 10);
  if (v <= 0) return std::nullopt;
  return static_cast<pid_t>(v);
}

// Is `pid` a process of this pod (its command line names the pod's uuid)?
// Guards against killing a recycled pid after a reboot or a kill -9.
bool is_pod_process(pid_t pid, const std::string& uuid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/cmdline", std::ios::binary);
  if (!f) return false;
  std::stringstream ss;
  ss << f.rdbuf();
  std::string cmd = ss.str();
  std::string st;
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::getline(stat, st);
  auto rp = st.rfind(')');
  if (rp != std::string::npos && rp + 2 < st.size() && st[rp + 2] == 'Z') return false;
  return cmd.find(uuid) != std::string::npos;
}

bool wait_gone(pid_t pid, int timeout_ms) {
  int64_t end = now_ms() + timeout_ms;
  while (now_ms() < end) {
    if (kill(pid, 0) != 0 && errno == ESRCH) return true;
    // Our own child: reap it so that it does not linger as a zombie.
    waitpid(pid, nullptr, WNOHANG);
    std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
    std::string st;
    std::getline(stat, st);
    auto rp = st.rfind(')');
    if (!stat || (rp != std::string::npos && rp + 2 < st.size() && st[rp + 2] == 'Z')) return true;
    usleep(20 * 1000);
  }
  return false;
}

UniqueFd connect_unix(const std::string& path) {
  UniqueFd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) pod::throw_sys("socket");
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  if (path.size() >= sizeof sa.sun_path) throw pod::Error("socket path too long: " + path);
  memcpy(sa.sun_path, path.c_str(), path.size() + 1);
  if (connect(fd.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) pod::throw_sys("connect " + path);
  return fd;
}

std::string sock_path(const std::string& name) { return std::string(kStateDir) + "/" + name; }

// Ask the guest to stop: a request file in the shared pod dir (which the
// guest agent checks periodically), then the ctl port for a fast, acknowledged
// delivery. Returns true when the guest acknowledged it.
bool request_stop(const std::string& mode, int wait_ack_ms) {
  int fd = open((std::string(kStateDir) + "/stop-request").c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd >= 0) {
    write_all(fd, mode.data(), mode.size());
    close(fd);
  }
  try {
    UniqueFd s = connect_unix(sock_path(kCtlSocket));
    if (!send_frame(s.get(), kReqStop, mode)) return false;
    pollfd p{s.get(), POLLIN, 0};
    if (poll(&p, 1, wait_ack_ms) > 0 && (p.revents & POLLIN)) {
      Frame f;
      return recv_frame(s.get(), f) && f.type == kAck;
    }
  } catch (const pod::Error& e) {
    debug(std::string("ctl port: ") + e.what());
  }
  return false;
}

pid_t spawn(const std::vector<std::string>& args, const std::string& log, bool own_pgrp, bool stdio) {
  pid_t pid = fork();
  if (pid < 0) pod::throw_sys("fork");
  if (pid > 0) return pid;
  // The pod ends with this process (it holds the lock): so must its VMM.
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (own_pgrp) setpgid(0, 0);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  if (!stdio) {
    int null = open("/dev/null", O_RDONLY);
    if (null >= 0) dup2(null, 0);
    int out = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (out >= 0) {
      dup2(out, 1);
      dup2(out, 2);
    }
  }
  std::vector<char*> argv;
  for (const auto& s : args) argv.push_back(const_cast<char*>(s.c_str()));
  argv.push_back(nullptr);
  execv(argv[0], argv.data());
  fprintf(stderr, "stage1-kvm: exec %s: %s\n", argv[0], strerror(errno));
  _exit(127);
}

std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : " ") + x;
  return s;
}

struct Paths {
  std::string kernel, initrd, qemu, lkvm, virtiofsd;
  json initrd_info;
};

Paths find_paths() {
  Paths p;
  std::string dir = exe_dir();
  p.kernel = getenv_str("POD_KVM_KERNEL");
  if (p.kernel.empty()) p.kernel = dir + "/vmlinuz";
  p.initrd = getenv_str("POD_KVM_INITRD");
  if (p.initrd.empty()) p.initrd = dir + "/initramfs.img";
  std::ifstream info(dir + "/initramfs.json");
  p.initrd_info = json::parse(info, nullptr, false);
  if (p.initrd_info.is_discarded()) p.initrd_info = json::object();
  p.qemu = which(getenv_str("POD_KVM_QEMU").empty() ? "qemu-system-x86_64" : getenv_str("POD_KVM_QEMU"));
  p.lkvm = which(getenv_str("POD_KVM_LKVM").empty() ? "lkvm" : getenv_str("POD_KVM_LKVM"));
  std::string vfs = getenv_str("POD_KVM_VIRTIOFSD");
  for (const char* c : {"/usr/libexec/virtiofsd", "/usr/lib/qemu/virtiofsd", "virtiofsd"})
    if (vfs.empty()) vfs = which(c);
  p.virtiofsd = vfs;
  return p;
}

bool initrd_has_9p(const json& info) {
  for (const auto& m : info.value("modules", json::array()))
    if (m.is_string() && m.get<std::string>() == "9p") return true;
  return false;
}

// ---- run ------------------------------------------------------------------

struct RunArgs {
  bool interactive = false;
  std::string uuid;
};

void write_failure(const std::string& msg) {
  try {
    UniqueFd d = pod::open_dir(".");
    pod::write_file_atomic_at(d.get(), "failure", msg + "\n");
  } catch (...) {
  }
  warn(msg);
}

int pod_status(int pdir, const std::vector<std::string>& apps, const std::string& how, const std::string& P);

int run_pod(const RunArgs& ra) {
  UniqueFd pdir = pod::open_dir(".");
  const std::string P = pod::fd_path(pdir.get());
  json pm = read_json_at(pdir.get(), "pod", false);
  json runtime = read_json_at(pdir.get(), "runtime.json", true);
  if (runtime.value("debug", false)) g_debug = true;
  const bool interactive = ra.interactive || runtime.value("interactive", false);

  std::vector<std::string> apps;
  for (const auto& a : pm.value("apps", json::array())) apps.push_back(a.value("name", ""));
  if (apps.empty()) throw pod::Error("the pod manifest has no apps");

  Paths paths = find_paths();
  if (access(paths.kernel.c_str(), R_OK) != 0) throw pod::Error("guest kernel " + paths.kernel + " not readable");
  if (access(paths.initrd.c_str(), R_OK) != 0) throw pod::Error("initramfs " + paths.initrd + " not readable");

  Choice choice = resolve_choice(runtime, getenv("POD_KVM_HYPERVISOR"), getenv("POD_KVM_ACCEL"));
  Hypervisor hyp = Hypervisor::Qemu;
  if (choice.hypervisor == "lkvm") {
    if (paths.lkvm.empty()) throw pod::Error("hypervisor lkvm requested but lkvm is not on PATH");
    hyp = Hypervisor::Lkvm;
  } else if (choice.hypervisor == "auto" && !paths.lkvm.empty() && initrd_has_9p(paths.initrd_info) &&
             kvm_device_problem().empty()) {
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
  vm.cpus = vm_cpus(runtime);
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
  vm.console_log = interactive ? "" : std::string(kStateDir) + "/console.log";
  vm.ctl_socket = sock_path(kCtlSocket);
  vm.enter_socket = sock_path(kEnterSocket);

  // Shares: the pod dir, then one per host volume.
  auto share_socket = [&](size_t i) { return sock_path(ra.uuid + "-fs" + std::to_string(i) + ".sock"); };
  vm.shares.push_back({"pod", P, share_socket(0), false});
  json gvols = json::array();
  for (const auto& v : pod_volumes(pm)) {
    json g = {{"name", v.name}, {"readOnly", v.read_only}, {"targets", v.targets}};
    if (v.kind == "host") {
      struct stat st;
      if (stat(v.source.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
        throw pod::Error("volume \"" + v.name + "\": " + v.source + " is not a directory");
      std::string tag = "vol" + std::to_string(vm.shares.size());
      vm.shares.push_back({tag, v.source, share_socket(vm.shares.size()), v.read_only});
      g["tag"] = tag;
    } else {
      g["podPath"] = "volumes/" + v.name;
    }
    gvols.push_back(g);
  }
  json guest = {{"volumes", gvols}, {"debug", g_debug}, {"stopTimeout", 10}};
  pod::write_file_atomic_at(sdir.get(), "guest.json", guest.dump() + "\n");

  sigset_t mask;
  sigemptyset(&mask);
  for (int s : {SIGCHLD, SIGTERM, SIGINT, SIGHUP}) sigaddset(&mask, s);
  sigprocmask(SIG_BLOCK, &mask, nullptr);
  UniqueFd sfd(signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK));

  std::vector<pid_t> helpers;
  std::vector<std::string> argv;
  const std::string vmm_log = std::string(kStateDir) + "/vmm.log";
  if (hyp == Hypervisor::Qemu) {
    std::string pids;
    for (const auto& s : vm.shares) {
      auto a = virtiofsd_argv(paths.virtiofsd, s);
      debug("starting " + join(a));
      helpers.push_back(spawn(a, std::string(kStateDir) + "/virtiofsd.log", true, false));
      pids += std::to_string(helpers.back()) + "\n";
    }
    pod::write_file_atomic_at(sdir.get(), "helpers", pids);
    for (const auto& s : vm.shares) {
      int64_t end = now_ms() + 10000;
      while (access(s.socket.c_str(), F_OK) != 0) {
        if (now_ms() > end) throw pod::Error("virtiofsd did not create " + s.socket);
        usleep(5000);
      }
    }
    argv = qemu_argv(paths.qemu, vm);
  } else {
    argv = lkvm_argv(paths.lkvm, vm);
  }
  debug(std::string("hypervisor ") + to_string(hyp) + ", accel " + to_string(vm.accel) + ": " + join(argv));
  if (interactive) sigprocmask(SIG_UNBLOCK, &mask, nullptr);
  pid_t vmm = spawn(argv, vmm_log, !interactive, interactive);
  if (interactive) sigprocmask(SIG_BLOCK, &mask, nullptr);
  pod::write_file_atomic_at(pdir.get(), "pid", std::to_string(vmm) + "\n");

  int vmm_status = -1;
  int64_t force_at = -1;
  int stops = 0;
  while (vmm_status < 0) {
    pollfd p{sfd.get(), POLLIN, 0};
    int timeout = force_at < 0 ? -1 : static_cast<int>(std::max<int64_t>(0, force_at - now_ms()));
    poll(&p, 1, timeout);
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
        kill(vmm, SIGKILL);
      }
    }
    if (force_at >= 0 && now_ms() >= force_at) {
      warn("the guest did not stop in time, killing the VMM");
      kill(vmm, SIGKILL);
      force_at = -1;
    }
    int st;
    pid_t w;
    while ((w = waitpid(-1, &st, WNOHANG)) > 0)
      if (w == vmm) vmm_status = st;
  }
  for (pid_t h : helpers) kill(h, SIGTERM);
  for (pid_t h : helpers)
    if (!wait_gone(h, 2000)) kill(h, SIGKILL), waitpid(h, nullptr, 0);
  for (const auto& n : pod::list_dir(sdir.get()))
    if (n.size() > 5 && n.substr(n.size() - 5) == ".sock") unlinkat(sdir.get(), n.c_str(), 0);

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
  UniqueFd st_dir = pod::try_open_dir_at(pdir, "appstatus");
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
    if (!pod::exists_at(pdir, "failure")) write_failure("pod was killed by stop --force");
    return 128 + SIGKILL;
  }
  write_failure("stage1-kvm: the VM ended without an app exit record (" + how + "; see " + P + "/" + kStateDir +
                "/console.log)");
  return kExitFailure;
}

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

}  // namespace
}  // namespace podkvm

int main(int argc, char** argv) {
  std::string name = argv[0];
  name = name.substr(name.rfind('/') + 1);
  std::vector<std::string> args(argv + 1, argv + argc);
  if (name != "run" && name != "enter" && name != "stop" && name != "gc") {
    if (args.empty()) {
      std::cerr << "usage: stage1-kvm run|enter|stop|gc|probe ARGS...\n";
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
  } catch (const std::exception& e) {
    std::cerr << "stage1-kvm " << name << ": " << e.what() << "\n";
    return podkvm::kExitFailure;
  }
  std::cerr << "stage1-kvm: unknown entrypoint " << name << "\n";
  return 2;
}
