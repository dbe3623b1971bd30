// pod::Child: starting, exec failures, exit codes, waiting, killing, reaping.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <chrono>
#include <string>

#include "util/error.hpp"
#include "util/fd.hpp"
#include "util/process.hpp"

using pod::Child;
using pod::ChildOptions;
using pod::Error;
using pod::Redirect;
using pod::UniqueFd;

namespace {

bool alive(pid_t pid) { return ::kill(pid, 0) == 0; }
// No such process: not even a zombie left to reap.
bool gone(pid_t pid) { return ::kill(pid, 0) < 0 && errno == ESRCH; }

// The message of the Error that f throws ("" when it throws none).
template <typename F>
std::string error_of(F f, int* errnum = nullptr) {
  try {
    f();
  } catch (const Error& e) {
    if (errnum) *errnum = e.errnum();
    return e.what();
  }
  return "";
}

// Run sh -c script with stdout to a pipe; returns what it printed.
std::string output_of(const std::string& script, ChildOptions o = {}) {
  int p[2];
  REQUIRE(::pipe2(p, O_CLOEXEC) == 0);
  UniqueFd rd(p[0]), wr(p[1]);
  o.out = Redirect::to_fd(wr.get());
  Child c = Child::start({"/bin/sh", "-c", script}, o);
  wr.reset();
  std::string out;
  char buf[256];
  ssize_t n;
  while ((n = ::read(rd.get(), buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  CHECK(c.wait() == 0);
  return out;
}

}  // namespace

TEST_CASE("an exec failure is an Error that says what could not be executed and why") {
  int err = 0;
  CHECK(error_of([] { Child::start({"/nonexistent/prog", "x"}); }, &err) ==
        "cannot execute /nonexistent/prog: No such file or directory");
  CHECK(err == ENOENT);
  CHECK(error_of([] { Child::start({"no-such-program-for-pod-tests"}); }) ==
        "cannot execute no-such-program-for-pod-tests: No such file or directory");
  ChildOptions o;
  o.cwd = "/nonexistent-dir";
  CHECK(error_of([&] { Child::start({"/bin/true"}, o); }) ==
        "cannot change to directory /nonexistent-dir: No such file or directory");
  ChildOptions pre;
  pre.pre_exec = [] { throw pod::usage_error("setup refused"); };
  CHECK(error_of([&] { Child::start({"/bin/true"}, pre); }) == "setup refused");
  CHECK(error_of([&] { Child::start_function([] { return 0; }, pre); }) == "setup refused");
  // The kind comes along: Io for a failed exec (with its errno), the pre-exec step's own otherwise.
  pod::ErrorKind kind = pod::ErrorKind::Failed;
  try {
    Child::start({"/nonexistent/prog"});
  } catch (const Error& e) {
    kind = e.kind();
  }
  CHECK(kind == pod::ErrorKind::Io);
  try {
    Child::start({"/bin/true"}, pre);
  } catch (const Error& e) {
    kind = e.kind();
  }
  CHECK(kind == pod::ErrorKind::Usage);
}

TEST_CASE("exit codes: the exit status, 128+N for signal N") {
  CHECK(Child::start({"/bin/sh", "-c", "exit 7"}).wait() == 7);
  CHECK(Child::start({"true"}).wait() == 0);  // PATH lookup
  Child c = Child::start({"/bin/sh", "-c", "kill -TERM $$"});
  CHECK(c.wait() == 128 + SIGTERM);
  REQUIRE(c.status());
  CHECK(pod::describe_status(*c.status()) == std::string("killed by signal ") + ::strsignal(SIGTERM));
  CHECK(Child::start_function([] { return 5; }).wait() == 5);
  CHECK(Child::start_function([]() -> int { throw std::runtime_error("x"); }).wait() == 70);
}

TEST_CASE("waiting with a timeout and without blocking") {
  Child c = Child::start({"/bin/sleep", "10"});
  CHECK(c.running());
  CHECK_FALSE(c.try_wait());
  const auto t0 = std::chrono::steady_clock::now();
  CHECK_FALSE(c.wait_for(100));
  const auto waited = std::chrono::steady_clock::now() - t0;
  CHECK(waited >= std::chrono::milliseconds(100));
  CHECK(waited < std::chrono::seconds(5));
  CHECK(c.signal(SIGKILL));
  CHECK(c.wait_for(5000) == 128 + SIGKILL);
  CHECK_FALSE(c.running());
  CHECK_FALSE(c.signal(SIGTERM));  // reaped: its pid may be someone else's now
  Child quick = Child::start({"/bin/sh", "-c", "exit 2"});
  CHECK(quick.wait_for(5000) == 2);
}

TEST_CASE("a Child destroyed while running kills and reaps its process; a detached one lives on, and can be adopted") {
  pid_t pid;
  {
    Child c = Child::start({"/bin/sleep", "30"});
    pid = c.pid();
    CHECK(alive(pid));
  }
  CHECK(gone(pid));  // killed and reaped

  ChildOptions o;
  o.on_destroy = ChildOptions::OnDestroy::kDetach;
  { pid = Child::start({"/bin/sleep", "30"}, o).pid(); }
  CHECK(alive(pid));
  {
    Child again = Child::adopt(pid);  // ours to wait for, or to kill on destruction, again
    CHECK(again.running());
  }
  CHECK(gone(pid));

  Child moved = Child::start({"/bin/sleep", "30"});
  pid = moved.pid();
  Child other = std::move(moved);
  CHECK_FALSE(moved);
  other = Child();  // assignment over a running child kills it as well
  CHECK(gone(pid));
}

TEST_CASE("a status collected elsewhere (PID-1 reaping) is handed to its Child") {
  Child c = Child::start({"/bin/sh", "-c", "exit 3"});
  std::optional<pod::Reaped> r = pod::reap_any(true);
  REQUIRE(r);
  CHECK_FALSE(Child().collect(*r));
  CHECK(c.collect(*r));
  CHECK_FALSE(c.running());
  CHECK(c.exit_code() == 3);
  CHECK(c.wait() == 3);  // already known: not waited for again
  CHECK_FALSE(pod::reap_any());
}

TEST_CASE("stdio, environment, working directory, kept fds, session and signals in the child") {
  ChildOptions o;
  o.env = std::vector<std::string>{"FOO=bar"};
  o.cwd = "/tmp";
  CHECK(output_of("echo \"$FOO\"; pwd", o) == "bar\n/tmp\n");

  ChildOptions null_in;
  null_in.in = Redirect::null();
  CHECK(output_of("cat; echo end", null_in) == "end\n");

  int p[2];
  REQUIRE(::pipe2(p, O_CLOEXEC) == 0);
  UniqueFd rd(p[0]), wr(p[1]);
  ChildOptions keep;
  keep.keep_fds = {wr.get()};
  CHECK(Child::start({"/bin/sh", "-c", "echo kept >&" + std::to_string(wr.get())}, keep).wait() == 0);
  wr.reset();
  char buf[16] = {};
  CHECK(::read(rd.get(), buf, sizeof buf) == 5);
  CHECK(std::string(buf) == "kept\n");

  ChildOptions sess;
  sess.setsid = true;
  CHECK(Child::start_function([] { return ::getsid(0) == ::getpid() ? 0 : 1; }, sess).wait() == 0);

  // Ignored and blocked here; default again in the child.
  struct sigaction old_term {};
  struct sigaction ign {};
  ign.sa_handler = SIG_IGN;
  ::sigaction(SIGTERM, &ign, &old_term);
  sigset_t set, old_mask;
  sigemptyset(&set);
  sigaddset(&set, SIGUSR1);
  ::sigprocmask(SIG_BLOCK, &set, &old_mask);
  CHECK(Child::start({"/bin/sh", "-c", "kill -TERM $$; exit 0"}).wait() == 128 + SIGTERM);
  CHECK(Child::start({"/bin/sh", "-c", "kill -USR1 $$; exit 0"}).wait() == 128 + SIGUSR1);
  ChildOptions keep_signals;
  keep_signals.reset_signals = false;
  CHECK(Child::start({"/bin/sh", "-c", "kill -TERM $$; exit 0"}, keep_signals).wait() == 0);
  ::sigprocmask(SIG_SETMASK, &old_mask, nullptr);
  ::sigaction(SIGTERM, &old_term, nullptr);
}

TEST_CASE("run_checked quotes the command's stderr and exec failures") {
  pod::run_checked({"/bin/true"}, "truth");
  CHECK(error_of([] { pod::run_checked({"/bin/sh", "-c", "echo broken >&2; exit 1"}, "breaking"); }) ==
        "breaking failed: broken");
  CHECK(error_of([] { pod::run_checked({"/nonexistent/cp"}, "copying"); }) ==
        "copying failed: cannot execute /nonexistent/cp: No such file or directory");
}
