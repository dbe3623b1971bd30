#include "running.hpp"

#include <fcntl.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

#include "util/error.hpp"

namespace pod::init {

int64_t now_ns(clockid_t clock) {
  struct timespec ts {};
  ::clock_gettime(clock, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}
int64_t monotonic_ms() { return now_ns(CLOCK_MONOTONIC) / 1000000; }

// Does the init copy the apps' output to its stdout/stderr (output.hpp)?
// Not interactive, not attached, and not turned off by the stage1 with
// POD_INIT_COPY_OUTPUT=0 (its stdout is the journal, which gets every line
// from the logs already, or nobody would see the copy).
bool copies_output(const Runtime& rt) {
  const char* env = ::getenv("POD_INIT_COPY_OUTPUT");
  return !rt.interactive && !rt.attach && !(env && std::strcmp(env, "0") == 0);
}

// Start one app; throws with the child's own message when its setup or exec
// failed. Its stdio: the console (interactive, with stdin as its controlling
// terminal), the init's stdout/stderr (attached), two pipes the init copies
// to logs/<app>.log and to its own stdout/stderr (`console`), or else
// logs/<app>.log itself.
void spawn(Running& r, const ExecSpec& spec, const Runtime& rt, int logs_dirfd, Console* console,
           const std::string& prefix) {
  ChildOptions o;
  o.path = spec.path;
  o.env = spec.env;
  o.setsid = true;
  o.pre_exec = [&] {
    if (rt.interactive && ::isatty(STDIN_FILENO)) ::ioctl(STDIN_FILENO, TIOCSCTTY, 0);
    r.cgroup.join();
    apply_app(spec);
  };
  AppPipes pipes;
  if (!rt.interactive) o.in = Redirect::null();
  if (!rt.interactive && !rt.attach) {
    const int flags = O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW;
    UniqueFd fd(::openat(logs_dirfd, (spec.app + ".log").c_str(), flags, 0640));
    if (!fd) throw_sys("app " + spec.app + ": cannot open its log");
    r.log = std::make_shared<AppLog>(std::move(fd));
    o.out = o.err = Redirect::to_fd(r.log->fd());
  }
  if (console) {
    pipes = AppPipes::make();
    o.out = Redirect::to_fd(pipes.out_w.get());
    o.err = Redirect::to_fd(pipes.err_w.get());
  }
  try {
    r.child = Child::start(spec.argv, o);
  } catch (const Error& e) {
    throw e.with_context("app " + spec.app);
  }
  if (console) {
    r.streams.emplace_back(std::move(pipes.out_r), r.log, console->out, prefix);
    r.streams.emplace_back(std::move(pipes.err_r), r.log, console->err, prefix);
  }
}

// The app's exit record (appstatus/<app>, stage1-abi.md). `oom`: the OOM
// killer killed a process of the app's cgroup (the app, or a child whose
// status the app then returned, as a shell does).
std::string exit_record(const Running& r, bool oom) {
  nlohmann::json j = {{"exitCode", r.exit_code.value_or(0)}};
  if (r.signal) j["signal"] = *r.signal;
  if (oom) j["oomKilled"] = true;
  if (r.pre_outcome) j["preStart"] = to_json(*r.pre_outcome);
  if (r.post_outcome) j["postStop"] = to_json(*r.post_outcome);
  if (!r.error.empty()) j["error"] = r.error;
  return j.dump() + "\n";
}

// When it started and ended (apptimes/<app>): ns since the epoch.
std::string times_record(const Running& r) {
  nlohmann::json j = {{"startedAt", r.started_at}};
  if (r.finished_at) j["finishedAt"] = r.finished_at;
  return j.dump() + "\n";
}

}  // namespace pod::init
