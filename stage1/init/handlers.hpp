// appc event handlers of one app (image manifest app.eventHandlers): the
// pre-start handler runs and exits before the app's exec, the post-stop
// handler after the app exited or was killed. Each runs as the app would
// (its rootfs, user, groups, environment, working directory, capabilities,
// seccomp and cgroup: prepare_exec with the handler's argv), in its own
// session, stdin /dev/null, stdout and stderr to logs/<app>.<handler>.log
// (truncated per run). The supervisor drives them; this file starts them and
// turns an ended one into the outcome the app's exit record carries.
#pragma once
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "cgroups.hpp"
#include "exec.hpp"
#include "util/process.hpp"

namespace pod::init {

inline constexpr const char* kPreStart = "pre-start";
inline constexpr const char* kPostStop = "post-stop";

// How much of a handler's output its outcome keeps (the end of it).
inline constexpr size_t kHandlerOutputMax = 4096;

struct HandlerOutcome {
  int exit_code = 0;  // 128+N when killed by signal N
  bool timed_out = false;
  std::string output;  // the last kHandlerOutputMax bytes of its stdout+stderr
};

// The handler's ExecSpec: the app's, with the handler's argv (checked to
// exist in the app's rootfs). Throws naming the app and the handler.
ExecSpec prepare_handler(const App& app, const std::string& handler, const std::vector<std::string>& argv);

// Starts the handler; throws (naming app and handler) when its setup or exec failed.
Child start_handler(const ExecSpec& spec, const std::string& handler, const AppCgroup& cgroup, int logs_dirfd);

// The outcome of a handler that ended with `wait_status`.
HandlerOutcome handler_outcome(int logs_dirfd, const std::string& app, const std::string& handler, int wait_status,
                               bool timed_out);

// {"exitCode", "timedOut", "output"}: its form in the app's exit record.
nlohmann::json to_json(const HandlerOutcome& o);

}  // namespace pod::init
