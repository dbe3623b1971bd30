#include "spawn.hpp"

#include <fcntl.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

#include "util/error.hpp"

namespace pod::init {

bool copies_output(const Runtime& rt) {
  const char* env = ::getenv("POD_INIT_COPY_OUTPUT");
  return !rt.interactive && !rt.attach && !(env && std::strcmp(env, "0") == 0);
}

Child spawn_app(AppOutput& io, const ExecSpec& spec, const AppCgroup& cgroup, const Runtime& rt, int logs_dirfd,
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
  if (!rt.interactive && !rt.attach) {
    const int flags = O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW;
    UniqueFd fd(::openat(logs_dirfd, (spec.app + ".log").c_str(), flags, 0640));
    if (!fd) throw_sys("app " + spec.app + ": cannot open its log");
    io.log = std::make_shared<AppLog>(std::move(fd));
    o.out = o.err = Redirect::to_fd(io.log->fd());
  }
  if (console) {
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
  if (console) {
    io.streams.emplace_back(std::move(pipes.out_r), io.log, console->out, prefix, io.cri, "stdout");
    io.streams.emplace_back(std::move(pipes.err_r), io.log, console->err, prefix, io.cri, "stderr");
  }
  return child;
}

void give_cri_log(AppOutput& io, UniqueFd fd, const std::string& app, bool started, bool console) {
  if (io.cri) return io.cri->reopen(std::move(fd));
  if (started) throw Error("app " + app + " was started without a CRI log file");
  if (!console)
    throw Error("app " + app + ": a CRI log file needs the init to copy the apps' output, which this pod's stage1 "
                "turned off (POD_INIT_COPY_OUTPUT=0)");
  io.cri = std::make_shared<CriLog>(std::move(fd));
}

void reopen_cri_log(AppOutput& io, UniqueFd fd, const std::string& app) {
  if (!io.cri) throw Error("app " + app + " has no CRI log file to reopen");
  io.cri->reopen(std::move(fd));
}

}  // namespace pod::init
