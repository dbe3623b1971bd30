#include "util/process.hpp"

#include <fcntl.h>
#include <linux/sched.h>  // struct clone_args, CLONE_INTO_CGROUP
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "util/error.hpp"
#include "util/fd.hpp"

extern char** environ;

namespace pod {

int exit_code_of(int st) { return WIFSIGNALED(st) ? 128 + WTERMSIG(st) : WEXITSTATUS(st); }

std::string describe_status(int st) {
  if (WIFSIGNALED(st)) return std::string("killed by signal ") + ::strsignal(WTERMSIG(st));
  return "exited with status " + std::to_string(WEXITSTATUS(st));
}

namespace {

// The child's report to the parent on the CLOEXEC pipe: errno and the
// error kind, then the message. Nothing arrives (EOF) when exec succeeded.
struct Report {
  int errnum;
  ErrorKind kind;
};

[[noreturn]] void report_and_exit(int fd, const Error& e) {
  const Report r{e.errnum(), e.kind()};
  std::string buf(reinterpret_cast<const char*>(&r), sizeof r);
  buf += e.what();
  (void)!::write(fd, buf.data(), buf.size());
  ::_exit(127);
}

// "<what>: <strerror(errno)>".
[[noreturn]] void report_errno(int fd, const std::string& what) {
  const int err = errno;
  report_and_exit(fd, Error(what + ": " + std::strerror(err), err, ErrorKind::Io));
}

[[noreturn]] void in_child(const std::vector<char*>& argv, const std::vector<char*>* envp, const std::string& path,
                           const std::function<int()>* body, const ChildOptions& o, int report) {
  if (o.reset_signals) {
    for (int s = 1; s < NSIG; ++s) ::signal(s, SIG_DFL);  // SIGKILL, SIGSTOP, RT internals: EINVAL, fine
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
  }
  if (o.setsid && ::setsid() < 0) report_errno(report, "setsid");
  if (o.new_process_group && ::setpgid(0, 0) < 0) report_errno(report, "setpgid");
  // Every source above 2 first, so that no dup2 clobbers another's source.
  int src[3];
  const Redirect* rs[3] = {&o.in, &o.out, &o.err};
  for (int i = 0; i < 3; ++i) {
    src[i] = -1;
    if (rs[i]->kind == Redirect::Kind::kInherit) continue;
    int fd = rs[i]->kind == Redirect::Kind::kNull ? ::open("/dev/null", O_RDWR | O_CLOEXEC) : rs[i]->fd;
    if (fd < 0 || (src[i] = ::fcntl(fd, F_DUPFD_CLOEXEC, 3)) < 0) report_errno(report, "cannot set up stdio");
  }
  for (int i = 0; i < 3; ++i)
    if (src[i] >= 0 && ::dup2(src[i], i) < 0) report_errno(report, "cannot set up stdio");
  for (int fd : o.keep_fds) {
    int fl = ::fcntl(fd, F_GETFD);
    if (fl < 0 || ::fcntl(fd, F_SETFD, fl & ~FD_CLOEXEC) < 0) report_errno(report, "cannot keep fd " + std::to_string(fd));
  }
  if (!o.cwd.empty() && ::chdir(o.cwd.c_str()) < 0) report_errno(report, "cannot change to directory " + o.cwd);
  try {
    if (o.pre_exec) o.pre_exec();
  } catch (const Error& e) {
    report_and_exit(report, e);
  } catch (const std::exception& e) {
    report_and_exit(report, Error(e.what()));
  }
  if (body) {
    ::close(report);  // the setup went well: the parent goes on
    int rc = 70;
    try {
      rc = (*body)();
    } catch (...) {
    }
    ::_exit(rc);
  }
  char** env = envp ? const_cast<char**>(envp->data()) : environ;
  if (path.find('/') != std::string::npos) ::execve(path.c_str(), argv.data(), env);
  else ::execvpe(path.c_str(), argv.data(), env);
  report_errno(report, "cannot execute " + path);
}

std::vector<char*> c_strings(const std::vector<std::string>& v) {
  std::vector<char*> out;
  for (const auto& s : v) out.push_back(const_cast<char*>(s.c_str()));
  out.push_back(nullptr);
  return out;
}

// Everything readable from fd until EOF; with `keep_tail`, only its last `keep_tail` bytes.
std::string drain(int fd, size_t keep_tail = 0) {
  std::string out;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
    if (keep_tail && out.size() > keep_tail) out.erase(0, out.size() - keep_tail);
  }
  return out;
}

// fork(2), clone(2) with opts.clone_flags, or clone3(2) into opts.cgroup_fd.
// Without clone3 or CLONE_INTO_CGROUP (before Linux 5.7), `join_in_child`
// asks the child to move itself.
pid_t spawn(const ChildOptions& opts, bool& join_in_child) {
  join_in_child = false;
  if (opts.cgroup_fd >= 0) {
    struct clone_args args {};
    args.flags = opts.clone_flags | CLONE_INTO_CGROUP;
    args.exit_signal = SIGCHLD;
    args.cgroup = static_cast<uint64_t>(opts.cgroup_fd);
    long pid = ::syscall(SYS_clone3, &args, sizeof args);
    if (pid >= 0) return static_cast<pid_t>(pid);
    if (errno != ENOSYS && errno != E2BIG && errno != EINVAL) throw_sys("clone3");
    join_in_child = true;
  }
  pid_t pid = opts.clone_flags ? static_cast<pid_t>(::syscall(SYS_clone, opts.clone_flags | SIGCHLD, 0, 0, 0, 0))
                               : ::fork();
  if (pid < 0) throw_sys(opts.clone_flags ? "clone" : "fork");
  return pid;
}

}  // namespace

Child::Child(Child&& o) noexcept
    : pid_(std::exchange(o.pid_, 0)), status_(std::exchange(o.status_, std::nullopt)), on_destroy_(o.on_destroy_) {}

Child& Child::operator=(Child&& o) noexcept {
  if (this != &o) {
    release();
    pid_ = std::exchange(o.pid_, 0);
    status_ = std::exchange(o.status_, std::nullopt);
    on_destroy_ = o.on_destroy_;
  }
  return *this;
}

Child::~Child() { release(); }

void Child::release() noexcept {
  if (running() && on_destroy_ == ChildOptions::OnDestroy::kKill) {
    try {
      kill_and_wait();
    } catch (...) {
    }
  }
  pid_ = 0;
}

Child Child::start(const std::vector<std::string>& argv, const ChildOptions& opts) {
  if (argv.empty()) throw Error("bug: Child::start with an empty argv");
  return launch(&argv, nullptr, opts);
}

Child Child::start_function(const std::function<int()>& body, const ChildOptions& opts) {
  return launch(nullptr, &body, opts);
}

Child Child::adopt(pid_t pid, ChildOptions::OnDestroy on_destroy) {
  Child c;
  c.pid_ = pid;
  c.on_destroy_ = on_destroy;
  return c;
}

Child Child::launch(const std::vector<std::string>* argv, const std::function<int()>* body, const ChildOptions& opts) {
  // Everything the child needs is made before the fork.
  const std::string path = !argv ? "" : opts.path.empty() ? (*argv)[0] : opts.path;
  const std::vector<char*> av = argv ? c_strings(*argv) : std::vector<char*>{};
  std::vector<char*> ev;
  if (opts.env) ev = c_strings(*opts.env);
  int p[2];
  if (::pipe2(p, O_CLOEXEC) < 0) throw_sys("pipe");
  UniqueFd rd(p[0]), wr(p[1]);
  UniqueFd go_rd, go_wr;  // after_spawn's go to the child
  if (opts.after_spawn) {
    if (::pipe2(p, O_CLOEXEC) < 0) throw_sys("pipe");
    go_rd = UniqueFd(p[0]);
    go_wr = UniqueFd(p[1]);
  }
  bool join_cgroup_in_child = false;
  pid_t pid = spawn(opts, join_cgroup_in_child);
  if (pid == 0) {
    rd.reset();
    if (go_rd) {
      go_wr.reset();
      char go;
      if (::read(go_rd.get(), &go, 1) != 1) ::_exit(127);  // the parent's after_spawn failed
      go_rd.reset();
    }
    if (join_cgroup_in_child) {
      int procs = ::openat(opts.cgroup_fd, "cgroup.procs", O_WRONLY | O_CLOEXEC);
      if (procs < 0 || ::write(procs, "0\n", 2) != 2) report_errno(wr.get(), "cannot join the cgroup");
      ::close(procs);
    }
    in_child(av, opts.env ? &ev : nullptr, path, body, opts, wr.get());
  }
  wr.reset();
  Child c;
  c.pid_ = pid;
  c.on_destroy_ = opts.on_destroy;
  if (go_wr) {
    go_rd.reset();
    try {
      opts.after_spawn(pid);
    } catch (const Error&) {
      c.kill_and_wait();
      throw;
    }
    if (::write(go_wr.get(), "g", 1) != 1) throw_sys("cannot let process " + std::to_string(pid) + " go on");
    go_wr.reset();
  }
  std::string report = drain(rd.get());
  if (report.empty()) return c;
  c.wait_status(true);
  Report r{0, ErrorKind::Failed};
  if (report.size() >= sizeof r) {
    std::memcpy(&r, report.data(), sizeof r);
    report.erase(0, sizeof r);
  }
  throw Error(report, r.errnum, r.kind);
}

std::optional<int> Child::exit_code() const {
  if (!status_) return std::nullopt;
  return exit_code_of(*status_);
}

std::optional<int> Child::wait_status(bool block) {
  if (status_ || pid_ <= 0) return status_;
  int st = 0;
  pid_t r;
  while ((r = ::waitpid(pid_, &st, block ? 0 : WNOHANG)) < 0 && errno == EINTR) {
  }
  if (r < 0) throw_sys("cannot wait for process " + std::to_string(pid_));
  if (r == pid_) status_ = st;
  return status_;
}

int Child::wait() {
  if (pid_ <= 0) throw Error("bug: waiting for a child that was never started");
  return exit_code_of(*wait_status(true));
}

std::optional<int> Child::try_wait() {
  if (pid_ <= 0) return std::nullopt;
  auto st = wait_status(false);
  if (!st) return std::nullopt;
  return exit_code_of(*st);
}

std::optional<int> Child::wait_for(int timeout_ms) {
  if (auto code = try_wait(); code || pid_ <= 0) return code;
  timespec start{};
  ::clock_gettime(CLOCK_MONOTONIC, &start);
  auto elapsed_ms = [&] {
    timespec now{};
    ::clock_gettime(CLOCK_MONOTONIC, &now);
    return (now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000;
  };
  // A pidfd becomes readable when the process ends; without one (old
  // kernels), look every few milliseconds.
  UniqueFd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, pid_, 0)));
  for (;;) {
    long left = timeout_ms - elapsed_ms();
    if (left <= 0) return try_wait();
    if (pidfd) {
      pollfd p{pidfd.get(), POLLIN, 0};
      ::poll(&p, 1, static_cast<int>(left));
    } else {
      timespec ts{0, (left < 5 ? left : 5) * 1000000};
      ::nanosleep(&ts, nullptr);
    }
    if (auto code = try_wait()) return code;
  }
}

bool Child::signal(int sig) const { return running() && ::kill(pid_, sig) == 0; }

void Child::kill_and_wait() {
  if (!running()) return;
  ::kill(pid_, SIGKILL);
  wait_status(true);
}

bool Child::collect(const Reaped& r) {
  if (pid_ <= 0 || r.pid != pid_ || status_) return false;
  status_ = r.status;
  return true;
}

std::optional<Reaped> reap_any(bool block) {
  int st = 0;
  pid_t r;
  while ((r = ::waitpid(-1, &st, block ? 0 : WNOHANG)) < 0 && errno == EINTR) {
  }
  if (r <= 0) return std::nullopt;
  return Reaped{r, st};
}

void exec_argv(const std::vector<std::string>& argv) {
  if (argv.empty()) throw Error("bug: exec_argv with an empty argv");
  const std::vector<char*> av = c_strings(argv);
  ::execvp(av[0], av.data());
  throw_sys("cannot execute " + argv[0]);
}

void run_checked(const std::vector<std::string>& argv, const std::string& what) {
  int p[2];
  if (::pipe2(p, O_CLOEXEC) < 0) throw_sys("pipe");
  UniqueFd rd(p[0]), wr(p[1]);
  ChildOptions o;
  o.in = Redirect::null();
  o.err = Redirect::to_fd(wr.get());
  Child child;
  try {
    child = Child::start(argv, o);
  } catch (const Error& e) {
    throw e.with_context(what + " failed");
  }
  wr.reset();
  std::string err = drain(rd.get(), 8192);
  if (child.wait() == 0) return;
  while (!err.empty() && (err.back() == '\n' || err.back() == ' ')) err.pop_back();
  throw Error(what + " failed" + (err.empty() ? "" : ": " + err));
}

}  // namespace pod
