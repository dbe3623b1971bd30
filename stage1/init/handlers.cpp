#include "handlers.hpp"

#include <fcntl.h>
#include <unistd.h>

#include "contract/poddir.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"

namespace pod::init {

namespace {
// The handler log's name inside logs/.
std::string log_name(const std::string& app, const std::string& handler) {
  const std::string path = poddir::handler_log(app, handler);
  return path.substr(path.find('/') + 1);
}
}  // namespace

ExecSpec prepare_handler(const App& app, const std::string& handler, const std::vector<std::string>& argv) {
  try {
    return prepare_exec(app, false, argv);
  } catch (const Error& e) {
    throw e.with_context(handler + " event handler");
  }
}

Child start_handler(const ExecSpec& spec, const std::string& handler, const AppCgroup& cgroup, int logs_dirfd) {
  const int flags = O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW;
  UniqueFd log(::openat(logs_dirfd, log_name(spec.app, handler).c_str(), flags, 0640));
  if (!log) throw_sys("app " + spec.app + ": cannot open the log of its " + handler + " event handler");
  ChildOptions o;
  o.path = spec.path;
  o.env = spec.env;
  o.setsid = true;
  o.in = Redirect::null();
  o.out = o.err = Redirect::to_fd(log.get());
  o.pre_exec = [&] {
    cgroup.join();
    apply_app(spec);
  };
  try {
    return Child::start(spec.argv, o);
  } catch (const Error& e) {
    throw e.with_context("app " + spec.app + ": " + handler + " event handler");
  }
}

HandlerOutcome handler_outcome(int logs_dirfd, const std::string& app, const std::string& handler, int wait_status,
                               bool timed_out) {
  HandlerOutcome o;
  o.exit_code = exit_code_of(wait_status);
  o.timed_out = timed_out;
  // Only its end is kept: the file is the handler's to fill.
  UniqueFd fd(::openat(logs_dirfd, log_name(app, handler).c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (fd) {
    const off_t size = ::lseek(fd.get(), 0, SEEK_END);
    const off_t from = size > static_cast<off_t>(kHandlerOutputMax) ? size - static_cast<off_t>(kHandlerOutputMax) : 0;
    o.output.resize(static_cast<size_t>(size - from));
    const ssize_t n = size > 0 ? ::pread(fd.get(), o.output.data(), o.output.size(), from) : 0;
    o.output.resize(n > 0 ? static_cast<size_t>(n) : 0);
  }
  return o;
}

nlohmann::json to_json(const HandlerOutcome& o) {
  // The output is whatever the handler wrote: invalid UTF-8 is replaced, not a dump() failure.
  const std::string text = nlohmann::json(o.output).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return {{"exitCode", o.exit_code}, {"timedOut", o.timed_out}, {"output", nlohmann::json::parse(text)}};
}

}  // namespace pod::init
