#include "supervisor.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <optional>

#include "exec.hpp"
#include "log.hpp"
#include "rootfs.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"
#include "util/process.hpp"

namespace pod::init {

namespace {

struct Running {
  const App* app;
  Child child;
  std::optional<int> exit_code;  // set once reaped
};

void noop_handler(int) {}

// PID 1 of a namespace only gets signals it has a handler for, so install
// one (blocked; they are read from a signalfd).
UniqueFd setup_signals() {
  sigset_t set;
  sigemptyset(&set);
  for (int s : {SIGCHLD, SIGTERM, SIGINT, SIGHUP}) {
    sigaddset(&set, s);
    struct sigaction sa {};
    sa.sa_handler = noop_handler;
    ::sigaction(s, &sa, nullptr);
  }
  if (::sigprocmask(SIG_BLOCK, &set, nullptr) < 0) throw_sys("sigprocmask");
  int fd = ::signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
  if (fd < 0) throw_sys("signalfd");
  return UniqueFd(fd);
}

// Tell the stage1 run entrypoint, if it asked (POD_INIT_NOTIFY), that we are
// up or ready. The kernel attaches our credentials, so the receiver learns
// our pid as seen from its pid namespace.
void notify(const std::string& msg) {
  const char* path = ::getenv("POD_INIT_NOTIFY");
  if (!path || !*path) return;
  int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return;
  UniqueFd f(fd);
  struct sockaddr_un sa {};
  sa.sun_family = AF_UNIX;
  std::strncpy(sa.sun_path, path, sizeof sa.sun_path - 1);
  struct ucred cred {::getpid(), ::getuid(), ::getgid()};
  char control[CMSG_SPACE(sizeof cred)] = {};
  struct iovec iov {const_cast<char*>(msg.data()), msg.size()};
  struct msghdr mh {};
  mh.msg_name = &sa;
  mh.msg_namelen = sizeof sa;
  mh.msg_iov = &iov;
  mh.msg_iovlen = 1;
  mh.msg_control = control;
  mh.msg_controllen = sizeof control;
  struct cmsghdr* c = CMSG_FIRSTHDR(&mh);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_CREDENTIALS;
  c->cmsg_len = CMSG_LEN(sizeof cred);
  std::memcpy(CMSG_DATA(c), &cred, sizeof cred);
  if (::sendmsg(fd, &mh, MSG_NOSIGNAL) < 0) log_warn("cannot notify " + std::string(path) + ": " + std::strerror(errno));
}

// Start one app; throws with the child's own message when its setup or exec
// failed. Its stdio: the console (interactive, with stdin as its controlling
// terminal), the init's stdout/stderr (attached), or else logs/<app>.log.
Child spawn(const ExecSpec& spec, const Runtime& rt, int logs_dirfd) {
  ChildOptions o;
  o.path = spec.path;
  o.env = spec.env;
  o.setsid = true;
  o.pre_exec = [&] {
    if (rt.interactive && ::isatty(STDIN_FILENO)) ::ioctl(STDIN_FILENO, TIOCSCTTY, 0);
    apply_app(spec);
  };
  UniqueFd log;
  if (!rt.interactive) o.in = Redirect::null();
  if (!rt.interactive && !rt.attach) {
    int fd = ::openat(logs_dirfd, (spec.app + ".log").c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0640);
    if (fd < 0) throw_sys("app " + spec.app + ": cannot open its log");
    log.reset(fd);
    o.out = o.err = Redirect::to_fd(fd);
  }
  try {
    return Child::start(spec.argv, o);
  } catch (const Error& e) {
    throw e.with_context("app " + spec.app);
  }
}

std::string exit_record(int status, int& exit_code) {
  if (WIFSIGNALED(status)) {
    int sig = WTERMSIG(status);
    exit_code = 128 + sig;
    return "{\"exitCode\":" + std::to_string(exit_code) + ",\"signal\":" + std::to_string(sig) + "}\n";
  }
  exit_code = WEXITSTATUS(status);
  return "{\"exitCode\":" + std::to_string(exit_code) + "}\n";
}

void kill_all(int sig) {
  if (::getpid() == 1) {
    ::kill(-1, sig);  // everything in our pid namespace but us
  }
}

class Supervisor {
 public:
  Supervisor(const PodConfig& cfg, int pod_dirfd) : cfg_(cfg), pod_dirfd_(pod_dirfd) {
    for (const auto& a : cfg.apps) apps_.push_back({&a, Child(), std::nullopt});
  }

  int run() {
    UniqueFd sigfd = setup_signals();
    notify("STATUS=starting");
    UniqueFd status_dir = mkdirs_at(pod_dirfd_, poddir::kAppStatusDir);
    UniqueFd logs_dir = mkdirs_at(pod_dirfd_, poddir::kLogsDir);
    std::vector<ExecSpec> specs;
    log_debug("setting up the apps' roots");
    for (const auto& r : apps_) {
      prepare_app_rootfs(*r.app, cfg_);
      specs.push_back(prepare_exec(*r.app, cfg_.runtime.interactive));
    }
    try {
      for (size_t i = 0; i < apps_.size(); ++i) {
        apps_[i].child = spawn(specs[i], cfg_.runtime, logs_dir.get());
        log_debug("started app " + apps_[i].app->name + " as pid " + std::to_string(apps_[i].child.pid()));
      }
    } catch (...) {
      end_pod(status_dir.get());
      throw;
    }
    write_file_at(pod_dirfd_, poddir::kReady, "", 0644, Durability::kVolatile);
    notify("READY=1");
    loop(sigfd.get(), status_dir.get());
    std::vector<int> codes;
    for (const auto& r : apps_) codes.push_back(r.exit_code.value_or(0));
    return pod_exit_status(codes);
  }

 private:
  size_t running() const {
    size_t n = 0;
    for (const auto& r : apps_) n += r.child && !r.exit_code;
    return n;
  }

  // Collect every child that ended (block: until none is left): the apps'
  // exit records; orphans re-parented to us are just reaped.
  void reap(int status_dirfd, bool block = false) {
    while (auto ended = reap_any(block)) {
      for (auto& r : apps_) {
        if (!r.child.collect(*ended)) continue;
        int code;
        write_file_atomic_at(status_dirfd, r.app->name, exit_record(ended->status, code), 0644, Durability::kVolatile);
        r.exit_code = code;
        log_debug("app " + r.app->name + " exited with " + std::to_string(code));
      }
    }
  }

  // Whatever the apps left behind (daemons) goes with the pod.
  void end_pod(int status_dirfd) {
    kill_all(SIGKILL);
    reap(status_dirfd, true);
  }

  void stop(int sig, int timerfd) {
    log_debug(std::string("stopping the apps (") + strsignal(sig) + ")");
    for (const auto& r : apps_) r.child.signal(SIGTERM);
    struct itimerspec its {};
    its.it_value.tv_sec = cfg_.runtime.stop_timeout_s > 0 ? cfg_.runtime.stop_timeout_s : 1;
    if (!stopping_) ::timerfd_settime(timerfd, 0, &its, nullptr);
    stopping_ = true;
  }

  void loop(int sigfd, int status_dirfd) {
    int tfd = ::timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
    if (tfd < 0) throw_sys("timerfd_create");
    UniqueFd timer(tfd);
    reap(status_dirfd);
    while (running() > 0) {
      struct pollfd p[2] = {{sigfd, POLLIN, 0}, {tfd, POLLIN, 0}};
      if (::poll(p, 2, -1) < 0) {
        if (errno == EINTR) continue;
        throw_sys("poll");
      }
      if (p[1].revents & POLLIN) {
        log_warn("apps still running " + std::to_string(cfg_.runtime.stop_timeout_s) + "s after SIGTERM, killing them");
        uint64_t n;
        (void)!::read(tfd, &n, sizeof n);
        kill_all(SIGKILL);
        for (const auto& r : apps_) r.child.signal(SIGKILL);
      }
      struct signalfd_siginfo si;
      while (::read(sigfd, &si, sizeof si) == sizeof si) {
        int sig = static_cast<int>(si.ssi_signo);
        if (sig == SIGTERM || sig == SIGINT || sig == SIGHUP) stop(sig, tfd);
      }
      reap(status_dirfd);
    }
    end_pod(status_dirfd);
  }

  const PodConfig& cfg_;
  int pod_dirfd_;
  std::vector<Running> apps_;
  bool stopping_ = false;
};

}  // namespace

int pod_exit_status(const std::vector<int>& exit_codes) {
  for (int c : exit_codes)
    if (c != 0) return c;
  return 0;
}

int run_pod(const PodConfig& cfg, int pod_dirfd) { return Supervisor(cfg, pod_dirfd).run(); }

}  // namespace pod::init
