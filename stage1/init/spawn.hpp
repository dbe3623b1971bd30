// Starting an app's main process with its stdio (supervisor.cpp keeps the
// rest of its life): the console (interactive), the init's own stdout/stderr
// (attached), two pipes the init copies to logs/<app>.log, to its own
// stdout/stderr (`console`) and to the app's CRI log file when it has one
// (crilog.hpp), or else logs/<app>.log itself.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "cgroups.hpp"
#include "config.hpp"
#include "crilog.hpp"
#include "exec.hpp"
#include "output.hpp"
#include "util/process.hpp"

namespace pod::init {

// Not interactive, not attached, and not turned off by the stage1 with
// POD_INIT_COPY_OUTPUT=0 (its stdout is the journal, which gets every line
// from the logs already, or nobody would see the copy).
bool copies_output(const Runtime& rt);

// An app's output as the init handles it.
struct AppOutput {
  std::shared_ptr<AppLog> log;  // logs/<app>.log, unless interactive or attached
  std::shared_ptr<CriLog> cri;  // its CRI log file, when it was given one (needs a console)
  std::vector<AppStream> streams;
};

// Start one app; throws with the child's own message when its setup or exec failed.
Child spawn_app(AppOutput& io, const ExecSpec& spec, const AppCgroup& cgroup, const Runtime& rt, int logs_dirfd,
                Console* console, const std::string& prefix);

// The CRI log file an add came with (control.hpp): the app's output goes there
// from its start on. Refused once it has started without one, or without a
// console (the init does not copy its output then: POD_INIT_COPY_OUTPUT=0).
// Given again (the add a start repeats) it replaces the file.
void give_cri_log(AppOutput& io, UniqueFd fd, const std::string& app, bool started, bool console);
// reopen-log: the app's CRI log file from now on (the kubelet renamed the old one); refused without one.
void reopen_cri_log(AppOutput& io, UniqueFd fd, const std::string& app);

}  // namespace pod::init
