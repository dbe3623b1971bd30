#include "spawn.hpp"

#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

#include "log.hpp"
#include "util/error.hpp"

namespace pod::init {

bool reads_output(const Runtime& rt) { return !rt.interactive && !rt.attach; }

bool copies_output(const Runtime& rt) {
  const char* env = ::getenv("POD_INIT_COPY_OUTPUT");
  return reads_output(rt) && !(env && std::strcmp(env, "0") == 0);
}

Child spawn_app(AppOutput& io, const ExecSpec& spec, const AppCgroup& cgroup, const Runtime& rt, LogDirs dirs,
                Console* console, const std::string& prefix) {
  ChildOptions o;
  o.path = spec.path;
  o.env = spec.env;
  o.setsid = true;
  o.pre_exec = [&] {
    if (rt.interactive && ::isatty(STDIN_FILENO)) ::ioctl(STDIN_FILENO, TIOCSCTTY, 0);
    cgroup.join();
    apply_app(spec);
  };
  AppPipes pipes;
  if (!rt.interactive) o.in = Redirect::null();
  if (reads_output(rt)) {
    const int flags = O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW;
    UniqueFd fd(::openat(dirs.logs, (spec.app + ".log").c_str(), flags, 0640));
    if (!fd) throw_sys("app " + spec.app + ": cannot open its log");
    struct stat st;
    if (::fstat(fd.get(), &st) < 0) throw_sys("app " + spec.app + ": cannot stat its log");
    logindex::Writer times;
    try {
      times = logindex::Writer::open(dirs.times, spec.app, static_cast<uint64_t>(st.st_size));
    } catch (const Error& e) {  // the output still goes to the log; pod logs then shows no times
      log_warn("app " + spec.app + ": no log time index: " + e.what());
    }
    io.log = std::make_shared<AppLog>(std::move(fd), static_cast<uint64_t>(st.st_size), std::move(times));
    pipes = AppPipes::make();
    o.out = Redirect::to_fd(pipes.out_w.get());
    o.err = Redirect::to_fd(pipes.err_w.get());
  }
  Child child;
  try {
    child = Child::start(spec.argv, o);
  } catch (const Error& e) {
    throw e.with_context("app " + spec.app);
  }
  if (io.log) {
    io.streams.emplace_back(std::move(pipes.out_r), io.log, console ? &console->out : nullptr, prefix, io.cri, "stdout");
    io.streams.emplace_back(std::move(pipes.err_r), io.log, console ? &console->err : nullptr, prefix, io.cri, "stderr");
  }
  return child;
}

void give_cri_log(AppOutput& io, UniqueFd fd, const std::string& app, bool started, const Runtime& rt) {
  if (io.cri) return io.cri->reopen(std::move(fd));
  if (started) throw Error("app " + app + " was started without a CRI log file");
  if (!reads_output(rt))
    throw Error("app " + app + ": a CRI log file needs the init to read the apps' output, which it does not in an "
                "interactive or attached pod");
  io.cri = std::make_shared<CriLog>(std::move(fd));
}

void reopen_cri_log(AppOutput& io, UniqueFd fd, const std::string& app) {
  if (!io.cri) throw Error("app " + app + " has no CRI log file to reopen");
  io.cri->reopen(std::move(fd));
}

}  // namespace pod::init
