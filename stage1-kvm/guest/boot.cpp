// pod-kvm-boot: PID 1 of a stage1-kvm guest, the /init of the initramfs.
//
// Loads the kernel modules listed in /etc/modules.order, mounts the pod
// directory share (virtiofs tag "pod", or 9p for lkvm), assembles the stage1
// root (/newroot = $P/stage1/rootfs, with $P bound at /newroot/pod and the host
// volumes bound at the apps' mount points), starts the pod init
// (/newroot/init) in a new PID namespace, and serves the enter/stop agent on
// virtio-serial ports until the pod init exits. Then it powers the VM off.
//
// Static, libc + libstdc++ only: there is nothing else in the initramfs.
#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <optional>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "../common/frame.hpp"
#include "../../stage1/init/config.hpp"
#include "util/error.hpp"
#include "contract/poddir.hpp"
#include "util/fs.hpp"
#include "util/process.hpp"
#include "net.hpp"
#include "relay.hpp"

using json = nlohmann::json;

namespace {

bool g_debug = false;

void logmsg(const char* fmt, ...) {
  char buf[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  timespec ts;
  clock_gettime(CLOCK_BOOTTIME, &ts);
  fprintf(stderr, "[%5ld.%03ld] pod-kvm-boot: %s\n", static_cast<long>(ts.tv_sec), ts.tv_nsec / 1000000, buf);
}

#define DEBUG(...) \
  do {             \
    if (g_debug) logmsg(__VA_ARGS__); \
  } while (0)

// No sync() first: nothing in the guest holds data that the host lacks. The
// shares are written through (virtiofs without writeback cache, 9p with
// cache=none), and FUSE writes a shared mapping's dirty pages back when it is
// unmapped, at the latest when its process exits, which every pod process has
// by now. A sync() would only make virtiofsd syncfs() the host file system
// holding the pod dir, which takes 40-200 ms on a busy host and is not what
// the nspawn flavour does at the end of a pod either.
// `normal`: the pod simply ended; said only with pod.debug (the console may
// be the user's terminal).
[[noreturn]] void power_off(const char* why, bool normal = false) {
  if (!normal || g_debug) logmsg("powering off: %s", why);
  reboot(RB_POWER_OFF);
  // Some machine types have no working power-off; qemu runs with -no-reboot,
  // so a reset ends it as well.
  reboot(RB_AUTOBOOT);
  for (;;) pause();
}

std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// mkdir -p of an absolute path, beneath / without following symlinks
// (pod::mkdirs_at); a failure is logged and shows again in the mount that
// needed the directory.
void mkdir_p(const std::string& path) {
  try {
    pod::mkdirs_at(pod::open_dir("/").get(), path.substr(1));
  } catch (const std::exception& e) {
    logmsg("cannot create %s: %s", path.c_str(), e.what());
  }
}

bool do_mount(const char* src, const std::string& dst, const char* type, unsigned long flags,
              const char* data = nullptr, bool quiet = false) {
  if (mount(src, dst.c_str(), type, flags, data) == 0) return true;
  if (!quiet) logmsg("mount %s on %s (%s): %s", src ? src : "-", dst.c_str(), type ? type : "bind",
                     strerror(errno));
  return false;
}

void load_modules(const char* list) {
  std::ifstream order(list);
  std::string mod;
  while (std::getline(order, mod)) {
    if (mod.empty()) continue;
    int fd = open(mod.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      logmsg("module %s: %s", mod.c_str(), strerror(errno));
      continue;
    }
    if (syscall(SYS_finit_module, fd, "", 0) != 0 && errno != EEXIST)
      logmsg("loading %s: %s", mod.c_str(), strerror(errno));
    else
      DEBUG("loaded %s", mod.c_str());
    close(fd);
  }
}

std::map<std::string, std::string> kernel_params() {
  std::map<std::string, std::string> m;
  std::istringstream in(read_file("/proc/cmdline"));
  std::string w;
  while (in >> w) {
    auto eq = w.find('=');
    if (eq == std::string::npos)
      m[w] = "";
    else
      m[w.substr(0, eq)] = w.substr(eq + 1);
  }
  return m;
}

// FUSE caps a virtiofs mount's readahead at 128 KiB, so exec'ing a 2 MB
// static binary (the pod init, a busybox app) faults it in with ~16 round
// trips to virtiofsd, each a few ms under TCG. One FUSE request carries up to
// 1 MiB (256 pages); read ahead that much.
void raise_readahead(const std::string& mountpoint) {
  struct stat st;
  if (stat(mountpoint.c_str(), &st) != 0) return;
  std::string knob = "/sys/class/bdi/" + std::to_string(major(st.st_dev)) + ":" +
                     std::to_string(minor(st.st_dev)) + "/read_ahead_kb";
  int fd = open(knob.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return;
  if (write(fd, "1024", 4) != 4) DEBUG("%s: %s", knob.c_str(), strerror(errno));
  close(fd);
}

// Mount a host share by tag, waiting for the device to show up (the virtio
// probe may still be running right after the modules were loaded).
bool mount_share(const std::string& tag, const std::string& dst, const std::string& kind, bool ro) {
  mkdir_p(dst);
  unsigned long flags = ro ? MS_RDONLY : 0;
  for (int i = 0; i <= 100; i++) {
    bool ok;
    if (kind == "9p")
      ok = do_mount(tag.c_str(), dst, "9p", flags,
                    "trans=virtio,version=9p2000.L,msize=262144,cache=none,access=client", i == 100);
    else
      ok = do_mount(tag.c_str(), dst, "virtiofs", flags, nullptr, i == 100);
    if (ok) {
      if (kind != "9p") raise_readahead(dst);
      return true;
    }
    if (i < 100) usleep(50 * 1000);
  }
  return false;
}

// /dev/vportNpM of the virtio-serial port called `name`, or "".
std::string find_port(const std::string& name) {
  DIR* d = opendir("/sys/class/virtio-ports");
  if (!d) return "";
  std::string found;
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] == '.') continue;
    std::string n = read_file(std::string("/sys/class/virtio-ports/") + e->d_name + "/name");
    while (!n.empty() && (n.back() == '\n' || n.back() == '\0')) n.pop_back();
    if (n == name) {
      found = std::string("/dev/") + e->d_name;
      break;
    }
  }
  closedir(d);
  return found;
}

// Interactive with a pipe (not a terminal) on the host's stdin: the app's
// tty must neither echo the input back nor turn \n into \r\n.
void console_as_pipe() {
  termios t;
  if (tcgetattr(0, &t) != 0) return;
  t.c_lflag &= ~static_cast<tcflag_t>(ECHO | ECHOE | ECHOK | ECHONL | ECHOCTL | ECHOKE);
  t.c_oflag &= ~static_cast<tcflag_t>(OPOST);
  tcsetattr(0, TCSANOW, &t);
}

struct Config {
  std::string share = "virtiofs";
  json guest;  // $P/stage1-state/guest.json
};

void setup_root(const Config& cfg) {
  mkdir_p("/newroot");
  if (!do_mount("/pod/stage1/rootfs", "/newroot", nullptr, MS_BIND | MS_REC))
    power_off("cannot bind the stage1 rootfs");
  const std::string pod_in_root = std::string("/newroot") + pod::poddir::kPodInRoot;
  mkdir(pod_in_root.c_str(), 0755);
  if (!do_mount(pod::poddir::kPodInRoot, pod_in_root, nullptr, MS_BIND)) power_off("cannot bind the pod dir");
  for (const char* d : {"/newroot/dev", "/newroot/proc", "/newroot/sys", "/newroot/run", "/newroot/tmp"})
    mkdir(d, 0755);
  do_mount("devtmpfs", "/newroot/dev", "devtmpfs", MS_NOSUID, "mode=0755");
  do_mount("sysfs", "/newroot/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC);
  do_mount("tmpfs", "/newroot/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755");

  // Host volumes go where the pod init binds them from (stage1/init/rootfs.hpp
  // kHostVolumesDir); kind=empty volumes are in the pod dir already.
  int n = 0;
  for (const auto& v : cfg.guest.value("volumes", json::array())) {
    std::string tag = v.value("tag", "");
    std::string name = v.value("name", "");
    if (tag.empty() || name.empty() || name.find('/') != std::string::npos) continue;
    std::string src = "/vols/" + std::to_string(n++);
    if (!mount_share(tag, src, cfg.share, v.value("readOnly", false))) {
      logmsg("volume %s (%s) not mounted", name.c_str(), tag.c_str());
      continue;
    }
    std::string dst = std::string("/newroot") + pod::poddir::kHostVolumesInRoot + "/" + name;
    mkdir_p(dst);
    do_mount(src.c_str(), dst, nullptr, MS_BIND);
    DEBUG("volume %s at %s", name.c_str(), dst.c_str());
  }
}

// The pod init as PID 1 of new PID and mount namespaces, chrooted into the
// stage1 root with its own /proc; its stdout and stderr are `output`'s pipes
// when the host relays them, else the console (and the init copies nothing
// there).
// The pod init's control socket, in the guest-local /run of the stage1 root
// (as the init sees it; from here it is below /newroot).
constexpr const char* kInitControl = "/run/pod-init-control.sock";

pod::Child start_init(const Config& cfg, const podkvm::InitOutput* output) {
  std::vector<std::string> args = {"/init"};
  if (cfg.guest.value("debug", false)) args.push_back("--debug");
  pod::ChildOptions o;
  o.clone_flags = CLONE_NEWPID | CLONE_NEWNS;
  o.setsid = true;
  o.env = std::vector<std::string>{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                                   "POD_STAGE1_FLAVOR=kvm", "container=pod-kvm",
                                   std::string("POD_INIT_NOTIFY=") + podkvm::GuestRelay::kInitSocket,
                                   std::string("POD_APP_NOTIFY_DIR=") + podkvm::GuestRelay::kAppDir,
                                   std::string("POD_APP_READY_DIR=") + podkvm::GuestRelay::kReadyDir,
                                   std::string("POD_INIT_CONTROL=") + kInitControl};
  if (const std::string url = cfg.guest.value("metadataURL", std::string()); !url.empty())
    o.env->push_back(std::string(pod::init::kMetadataUrlEnv) + "=" + url);
  if (output) {
    o.out = pod::Redirect::to_fd(output->out_fd());
    o.err = pod::Redirect::to_fd(output->err_fd());
  } else {
    o.env->push_back("POD_INIT_COPY_OUTPUT=0");  // nobody would see a copy on the console: logs only
  }
  o.pre_exec = [] {
    mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr);
    do_mount("proc", "/newroot/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC);
    if (chdir("/newroot") != 0 || chroot(".") != 0 || chdir("/") != 0) pod::throw_sys("cannot enter the stage1 rootfs");
  };
  try {
    return pod::Child::start(args, o);
  } catch (const std::exception& e) {
    logmsg("cannot start the pod init: %s", e.what());
    power_off("no pod init");
  }
}

// ---- enter sessions -------------------------------------------------------

// Runs in a child of PID 1 that owns the enter port for one session.
[[noreturn]] void enter_session(int port, pid_t init_pid) {
  podkvm::Frame req;
  if (!podkvm::recv_frame(port, req) || req.type != podkvm::kReqEnter) _exit(1);
  auto fail = [&](const std::string& msg) {
    podkvm::send_frame(port, podkvm::kError, msg);
    _exit(1);
  };
  json r = json::parse(req.data, nullptr, false);
  if (r.is_discarded()) fail("bad enter request");
  std::string app_name = r.value("app", "");
  std::vector<std::string> args = r.value("argv", std::vector<std::string>{});
  if (args.empty()) fail("no command given");

  // The pod's mount and PID namespaces are the pod init's; inside them
  // `/init enter` sets up the app's root, environment and user exactly as it
  // does for the app itself.
  for (const char* ns : {"mnt", "pid"}) {
    std::string nspath = "/proc/" + std::to_string(init_pid) + "/ns/" + ns;
    int nsfd = open(nspath.c_str(), O_RDONLY | O_CLOEXEC);
    if (nsfd < 0 || setns(nsfd, 0) != 0) fail("the pod is not running");
    close(nsfd);
  }

  int in[2], out[2], err[2];
  if (pipe2(in, O_CLOEXEC) || pipe2(out, O_CLOEXEC) || pipe2(err, O_CLOEXEC)) fail("pipe failed");
  std::vector<std::string> full = {"/init", "enter", "--app=" + app_name, "--"};
  full.insert(full.end(), args.begin(), args.end());
  pod::ChildOptions o;
  o.in = pod::Redirect::to_fd(in[0]);
  o.out = pod::Redirect::to_fd(out[1]);
  o.err = pod::Redirect::to_fd(err[1]);
  o.env = std::vector<std::string>{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"};
  o.pre_exec = [] {
    if (chdir("/newroot") != 0 || chroot(".") != 0 || chdir("/") != 0) pod::throw_sys("cannot enter the stage1 root");
  };
  pod::Child child;
  try {
    child = pod::Child::start(full, o);
  } catch (const std::exception& e) {
    fail(e.what());  // the host side says "enter: …"
  }
  close(in[0]);
  close(out[1]);
  close(err[1]);
  int stdin_w = in[1];
  bool out_open = true, err_open = true;
  char buf[65536];
  while (out_open || err_open) {
    pollfd p[3] = {{port, POLLIN, 0}, {out[0], POLLIN, 0}, {err[0], POLLIN, 0}};
    if (!out_open) p[1].fd = -1;
    if (!err_open) p[2].fd = -1;
    if (poll(p, 3, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (p[0].revents & POLLIN) {
      podkvm::Frame f;
      if (!podkvm::recv_frame(port, f)) {
        child.signal(SIGKILL);
        _exit(1);
      }
      if (f.type == podkvm::kStdin && stdin_w >= 0) {
        if (!podkvm::write_all(stdin_w, f.data.data(), f.data.size())) {
          close(stdin_w);
          stdin_w = -1;
        }
      } else if (f.type == podkvm::kStdinEof && stdin_w >= 0) {
        close(stdin_w);
        stdin_w = -1;
      }
    } else if (p[0].revents & (POLLHUP | POLLERR)) {
      // The host went away: end the command.
      child.signal(SIGKILL);
      _exit(1);
    }
    for (int i = 1; i < 3; i++) {
      if (!(p[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      ssize_t n = read(p[i].fd, buf, sizeof buf);
      if (n <= 0) {
        (i == 1 ? out_open : err_open) = false;
        continue;
      }
      podkvm::send_frame(port, i == 1 ? podkvm::kStdout : podkvm::kStderr, buf, static_cast<size_t>(n));
    }
  }
  if (stdin_w >= 0) close(stdin_w);
  const int code = child.wait();
  podkvm::send_frame(port, podkvm::kExit, std::to_string(code));
  _exit(0);
}

int64_t now_ms() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

}  // namespace

int main() {
  if (getpid() != 1) {
    fprintf(stderr, "pod-kvm-boot: must run as PID 1 of a stage1-kvm guest\n");
    return 1;
  }
  mkdir("/proc", 0755);
  mkdir("/sys", 0755);
  mkdir("/dev", 0755);
  do_mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC);
  do_mount("sysfs", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC);
  do_mount("devtmpfs", "/dev", "devtmpfs", MS_NOSUID, "mode=0755");
  int con = open("/dev/console", O_RDWR | O_NOCTTY);
  if (con >= 0) {
    dup2(con, 1);
    dup2(con, 2);
    if (con > 2) close(con);
  }
  auto params = kernel_params();
  g_debug = params.count("pod.debug") > 0;
  if (params.count("pod.probe")) {
    // The accel probe only needs to know that the kernel reached userspace.
    printf("POD-KVM-PROBE-OK\n");
    fflush(stdout);
    power_off("probe done");
  }
  load_modules("/etc/modules.order");
  // After virtio itself; the drivers loaded above bind when the mmio devices appear.
  if (params.count("pod.mmio")) load_modules("/etc/modules.mmio");
  podkvm::bring_up_loopback();
  if (params.count("pod.net")) {
    load_modules("/etc/modules.net");
    if (!podkvm::configure_net(params["pod.net"])) logmsg("the pod has no network");
  }

  if (params.count("pod.console") && params["pod.console"] == "pipe") console_as_pipe();
  Config cfg;
  if (params.count("pod.share")) cfg.share = params["pod.share"];
  // The pod dir is at the same place in the guest's initramfs as in the stage1 root.
  if (!mount_share("pod", pod::poddir::kPodInRoot, cfg.share, false)) power_off("cannot mount the pod dir share");
  cfg.guest = json::parse(read_file("/pod/stage1-state/guest.json"), nullptr, false);
  if (cfg.guest.is_discarded()) cfg.guest = json::object();
  if (cfg.guest.value("debug", false)) g_debug = true;
  if (cfg.guest.contains("nics")) {  // CNI networks (host/tapnet.hpp)
    DEBUG("configuring the network interfaces");
    load_modules("/etc/modules.net");
    if (!podkvm::configure_nics(cfg.guest["nics"])) power_off("cannot configure the pod's network interfaces");
    DEBUG("network interfaces configured");
  }
  setup_root(cfg);

  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGCHLD);
  sigaddset(&mask, SIGTERM);
  sigaddset(&mask, SIGINT);
  sigprocmask(SIG_BLOCK, &mask, nullptr);
  int sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);

  podkvm::GuestRelay relay;
  if (!relay.bind("/newroot", cfg.guest.value("notifyApps", std::vector<std::string>{})))
    logmsg("sd_notify from the pod will not reach the host");
  std::optional<podkvm::InitOutput> output;
  if (cfg.guest.value("relayOutput", false)) {
    try {
      output.emplace();
    } catch (const std::exception& e) {
      logmsg("the pod's output stays on the console: %s", e.what());
    }
  }
  pod::Child init = start_init(cfg, output ? &*output : nullptr);
  if (output) output->close_write_ends();
  const pid_t init_pid = init.pid();
  DEBUG("pod init is pid %d", init_pid);

  std::string ctl_path, enter_path, notify_path;
  int ctl = -1, enter = -1, notify = -1;
  pod::Child session;  // the enter session, one at a time
  int64_t kill_at = -1, poweroff_at = -1;
  int64_t ctl_idle_until = 0, enter_idle_until = 0, next_stop_check = 0;
  const int stop_timeout_ms = cfg.guest.value("stopTimeout", 10) * 1000 + 5000;

  while (init.running()) {
    int64_t now = now_ms();
    if (ctl < 0 && (ctl_path = find_port(podkvm::kCtlPort)) != "")
      ctl = open(ctl_path.c_str(), O_RDWR | O_CLOEXEC | O_NONBLOCK);
    if (enter < 0 && (enter_path = find_port(podkvm::kEnterPort)) != "")
      enter = open(enter_path.c_str(), O_RDWR | O_CLOEXEC);
    if (notify < 0 && (notify_path = find_port(podkvm::kNotifyPort)) != "")
      notify = open(notify_path.c_str(), O_WRONLY | O_CLOEXEC);
    std::vector<pollfd> p = {{sfd, POLLIN, 0}, {-1, POLLIN, 0}, {-1, POLLIN, 0}};
    relay.add_pollfds(p);
    if (output) output->add_pollfds(p);
    // An unconnected port polls as POLLHUP at once; look at it again later.
    if (ctl >= 0 && now >= ctl_idle_until) p[1].fd = ctl;
    if (enter >= 0 && !session.running() && now >= enter_idle_until) p[2].fd = enter;
    int timeout = 100;
    if (ctl < 0 || enter < 0) timeout = 50;
    if (kill_at >= 0) timeout = static_cast<int>(std::max<int64_t>(0, std::min<int64_t>(timeout, kill_at - now)));
    int n = poll(p.data(), p.size(), timeout);
    now = now_ms();
    if (n < 0 && errno != EINTR) break;
    relay.handle(p, notify);
    if (output) output->handle(p, notify);
    if (p[0].revents & POLLIN) {
      signalfd_siginfo si;
      while (read(sfd, &si, sizeof si) == sizeof si) {
        if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT) init.signal(SIGTERM);
        if (si.ssi_signo != SIGCHLD) continue;
        // PID 1: reap whatever ended, orphans included.
        while (auto ended = pod::reap_any()) {
          init.collect(*ended);
          session.collect(*ended);
        }
      }
    }
    if (p[1].fd >= 0 && p[1].revents) {
      if (p[1].revents & POLLIN) {
        podkvm::Frame f;
        int flags = fcntl(ctl, F_GETFL);
        fcntl(ctl, F_SETFL, flags & ~O_NONBLOCK);
        bool ok = podkvm::recv_frame(ctl, f);
        fcntl(ctl, F_SETFL, flags);
        if (ok && f.type == podkvm::kReqStop) {
          logmsg("stop requested (%s)", f.data.c_str());
          if (f.data == "force") {
            init.signal(SIGKILL);
          } else {
            init.signal(SIGTERM);
            if (kill_at < 0) kill_at = now + stop_timeout_ms;
          }
          podkvm::send_frame(ctl, podkvm::kAck, "");
        } else if (ok && f.type == podkvm::kReqControl) {
          podkvm::relay_control(ctl, f.data, std::string("/newroot") + kInitControl);
        }
      } else {
        ctl_idle_until = now + 100;
      }
    }
    if (p[2].fd >= 0 && p[2].revents) {
      if (p[2].revents & POLLIN) {
        try {
          session = pod::Child::start_function([&]() -> int {
            close(sfd);
            enter_session(enter, init_pid);
          });
        } catch (const std::exception& e) {
          logmsg("cannot start an enter session: %s", e.what());
        }
      } else {
        enter_idle_until = now + 100;
      }
    }
    // A stop request can also arrive as a file in the shared pod dir (the
    // host writes it when it cannot reach the ctl port, e.g. under lkvm).
    if (kill_at < 0 && now >= next_stop_check) {
      next_stop_check = now + 200;
      std::string req = read_file("/pod/stage1-state/stop-request");
      if (!req.empty()) {
        logmsg("stop requested through the pod dir (%s)", req.c_str());
        unlink("/pod/stage1-state/stop-request");
        if (req.rfind("force", 0) == 0) {
          init.signal(SIGKILL);
        } else {
          init.signal(SIGTERM);
          kill_at = now + stop_timeout_ms;
        }
      }
    }
    if (kill_at >= 0 && now >= kill_at) {
      logmsg("pod init did not stop in time, killing it");
      init.signal(SIGKILL);
      kill_at = -1;
      poweroff_at = now + 5000;
    }
    if (poweroff_at >= 0 && now >= poweroff_at) break;
  }
  session.signal(SIGKILL);
  if (output) output->drain(notify);
  if (auto st = init.status()) {
    if (WIFEXITED(*st))
      DEBUG("pod init exited with status %d", WEXITSTATUS(*st));
    else
      logmsg("pod init killed by signal %d", WTERMSIG(*st));
  }
  power_off("pod finished", true);
}
