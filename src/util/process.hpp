// Child processes: the one place that forks, execs, waits and reaps.
//
// pod::Child starts a process (fork + exec of an argv, or fork + a function),
// sets up its stdio, fds, signals and session in the child, and reports a
// failure to exec (or of the setup) back to the parent through a CLOEXEC pipe:
// the parent gets a pod::Error "cannot execute X: <reason>" from start()
// instead of an exit status 127 to guess from. A Child that is destroyed while
// its process still runs kills (SIGKILL) and reaps it, unless it was made to
// detach. PID-1 supervisors that must reap every child (orphans included)
// collect statuses with reap_any() and hand each to its Child with collect().
//
// Also used by the static pod init and the kvm guest's PID 1, which compile
// this file again: libc and libstdc++ only. The code between fork and exec
// allocates, which is fine in the single-threaded processes that use it.
#pragma once
#include <sys/types.h>

#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace pod {

// What one of a child's stdin/stdout/stderr becomes.
struct Redirect {
  enum class Kind { kInherit, kNull, kFd };
  Kind kind = Kind::kInherit;
  int fd = -1;
  static Redirect inherit() { return {}; }
  static Redirect null() { return {Kind::kNull, -1}; }
  // dup2'ed in the child; the parent keeps (and closes) its own fd.
  static Redirect to_fd(int fd) { return {Kind::kFd, fd}; }
};

struct ChildOptions {
  std::string path;  // the executable (default argv[0]); looked up in PATH when it has no '/'
  std::optional<std::vector<std::string>> env;  // NAME=value; default: this process's environment
  std::string cwd;   // default: this process's
  Redirect in, out, err;
  std::vector<int> keep_fds;  // survive exec (FD_CLOEXEC cleared in the child)
  // Empty signal mask and default dispositions in the child (ignored
  // signals, such as SIGPIPE, would otherwise stay ignored across exec).
  bool reset_signals = true;
  bool setsid = false;
  bool new_process_group = false;
  unsigned long clone_flags = 0;  // e.g. CLONE_NEWPID | CLONE_NEWNS: clone(2) instead of fork(2)
  // A cgroup2 directory fd: the child is born in that cgroup (clone3 with
  // CLONE_INTO_CGROUP), so no process is ever migrated there; kernels before
  // 5.7 get a write of its pid to cgroup.procs in the child instead.
  int cgroup_fd = -1;
  // Runs in the child after everything above, right before exec (or the
  // body); throwing reports the exception's message to the parent.
  std::function<void()> pre_exec;
  // Runs in the parent right after the clone, while the child waits before
  // any of its setup: e.g. writing the id maps of the child's new user
  // namespace (clone_flags CLONE_NEWUSER). If it throws, the child is killed.
  std::function<void(pid_t)> after_spawn;
  // What the destructor does with a process that has not been reaped.
  enum class OnDestroy { kKill, kDetach };
  OnDestroy on_destroy = OnDestroy::kKill;
};

// A child ended: its pid and wait status, as reap_any() collected it.
struct Reaped {
  pid_t pid = 0;
  int status = 0;
};

// The exit code of a wait status: the exit status, or 128+N for signal N.
int exit_code_of(int wait_status);
// "exited with status N" / "killed by signal NAME".
std::string describe_status(int wait_status);

class Child {
 public:
  Child() = default;
  Child(Child&& o) noexcept;
  Child& operator=(Child&& o) noexcept;
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;
  ~Child();

  // fork + exec argv. Returns once the exec succeeded; throws pod::Error
  // when it (or the setup in the child) failed; the child is reaped then.
  static Child start(const std::vector<std::string>& argv, const ChildOptions& opts = {});
  // fork + body(), whose return value is the child's exit status (70 when it
  // throws). Errors of the setup before body() are thrown as by start().
  static Child start_function(const std::function<int()>& body, const ChildOptions& opts = {});

  // A child of this process started some other way (or whose Child was
  // detached), to wait for or kill through this type.
  static Child adopt(pid_t pid, ChildOptions::OnDestroy on_destroy = ChildOptions::OnDestroy::kKill);

  pid_t pid() const { return pid_; }
  explicit operator bool() const { return pid_ > 0; }
  // Started and not reaped yet.
  bool running() const { return pid_ > 0 && !status_; }
  // The wait status once reaped.
  std::optional<int> status() const { return status_; }
  // exit_code_of(status) once reaped.
  std::optional<int> exit_code() const;

  // Wait for the child and return its exit code (128+N for signal N).
  int wait();
  // The same, giving up after timeout_ms (nullopt: still running).
  std::optional<int> wait_for(int timeout_ms);
  // Reap it if it has ended, without waiting.
  std::optional<int> try_wait();
  // kill(2) unless it has been reaped (its pid may be someone else's then).
  // False when it was reaped or the kill failed.
  bool signal(int sig) const;
  // SIGKILL and reap (nothing when already reaped).
  void kill_and_wait();
  // Its status was collected elsewhere (reap_any() in a PID-1 loop): record
  // it. True when `r` is this child's.
  bool collect(const Reaped& r);
  // Forget the process: no kill, no reap on destruction.
  void detach() { pid_ = 0; }

 private:
  static Child launch(const std::vector<std::string>* argv, const std::function<int()>* body,
                      const ChildOptions& opts);
  std::optional<int> wait_status(bool block);
  void release() noexcept;
  pid_t pid_ = 0;
  std::optional<int> status_;
  ChildOptions::OnDestroy on_destroy_ = ChildOptions::OnDestroy::kKill;
};

// waitpid(-1): collect any child that has ended (block: wait for one). For
// supervisors that are PID 1 of a namespace, whose children include orphans
// re-parented to them. nullopt when none has ended, or there are no children.
std::optional<Reaped> reap_any(bool block = false);

// exec argv in place of this process (PATH lookup when argv[0] has no '/');
// throws Error "cannot execute X: <reason>" when that fails.
[[noreturn]] void exec_argv(const std::vector<std::string>& argv);

// Run argv (PATH lookup) with stdin from /dev/null, wait, and throw an Error
// quoting its stderr (tail) when it fails. Returns nothing on success.
void run_checked(const std::vector<std::string>& argv, const std::string& what);

}  // namespace pod
