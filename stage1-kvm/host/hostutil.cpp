// stage1-kvm: helpers shared by the host entrypoints; see hostutil.hpp.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
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
#include "hostutil.hpp"

using json = nlohmann::json;
using pod::UniqueFd;


namespace podkvm {


bool g_debug = false;


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

VmmSocket::VmmSocket(const std::string& path) {
  ::unlink(path.c_str());
  listen_.reset(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!listen_) pod::throw_sys("socket");
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  if (path.size() >= sizeof sa.sun_path) throw pod::Error("socket path too long: " + path);
  memcpy(sa.sun_path, path.c_str(), path.size() + 1);
  if (bind(listen_.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0 || listen(listen_.get(), 1) != 0)
    pod::throw_sys("cannot listen on " + path);
}

void VmmSocket::add_pollfds(std::vector<pollfd>& p) const {
  p.push_back({listen_ ? listen_.get() : -1, POLLIN, 0});
  p.push_back({conn_ ? conn_.get() : -1, POLLIN, 0});
}

bool VmmSocket::readable(const pollfd& q) {
  if (q.fd < 0 || !(q.revents & (POLLIN | POLLHUP | POLLERR))) return false;
  if (listen_ && q.fd == listen_.get()) {
    int c = accept4(listen_.get(), nullptr, nullptr, SOCK_CLOEXEC);
    if (c >= 0) {
      conn_.reset(c);
      listen_.reset();  // qemu connects once
    }
    return false;
  }
  return conn_ && q.fd == conn_.get();
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

pod::Child spawn(const std::vector<std::string>& args, const std::string& log, bool own_pgrp, bool stdio,
                 const std::function<void()>& pre_exec) {
  pod::ChildOptions o;
  o.new_process_group = own_pgrp;
  UniqueFd out;
  if (!stdio) {
    out.reset(open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644));
    o.in = pod::Redirect::null();
    o.out = o.err = out ? pod::Redirect::to_fd(out.get()) : pod::Redirect::null();
  }
  o.pre_exec = [&] {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (pre_exec) pre_exec();
  };
  return pod::Child::start(args, o);
}

bool mount_private_huge_tmpfs(const std::string& dir) {
  // Private, so the mount is invisible to the host and goes away with the
  // VMM (and virtiofsd's mapping of its one file).
  if (unshare(CLONE_NEWNS) != 0 || mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) return false;
  return mount("pod-guest-ram", dir.c_str(), "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "huge=always,mode=0700") == 0;
}

std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : " ") + x;
  return s;
}



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

}  // namespace podkvm
