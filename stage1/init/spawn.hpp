// Starting an app's main process with its stdio (supervisor.cpp keeps the
// rest of its life): the console (interactive), the init's own stdout/stderr
// (attached), or else two pipes the init copies to logs/<app>.log (with its
// time index, logtimes/<app>), to its own stdout/stderr (`console`, unless
// copies_output says no) and to the app's CRI log file when it has one
// (crilog.hpp).
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

// The init reads the apps' output (and writes their logs): not interactive, not attached.
bool reads_output(const Runtime& rt);
// It copies that output to its own stdout/stderr too: reads it, and the stage1
// did not turn that off with POD_INIT_COPY_OUTPUT=0 (its stdout is the
// journal, which gets every line from the logs already, or nobody would see
// the copy).
bool copies_output(const Runtime& rt);

// Where the apps' logs go: logs/ and logtimes/ of the pod dir.
struct LogDirs {
  int logs = -1, times = -1;
};

// An app's output as the init handles it.
struct AppOutput {
  std::shared_ptr<AppLog> log;  // logs/<app>.log, unless interactive or attached
  std::shared_ptr<CriLog> cri;  // its CRI log file, when it was given one
  std::vector<AppStream> streams;
};

// Start one app; throws with the child's own message when its setup or exec failed.
// `console`: where the output is copied to, or null.
Child spawn_app(AppOutput& io, const ExecSpec& spec, const AppCgroup& cgroup, const Runtime& rt, LogDirs dirs,
                Console* console, const std::string& prefix);

// The CRI log file an add came with (control.hpp): the app's output goes there
// from its start on. Refused once it has started without one, or when the
// init does not read the apps' output (interactive, attached). Given again
// (the add a start repeats) it replaces the file.
void give_cri_log(AppOutput& io, UniqueFd fd, const std::string& app, bool started, const Runtime& rt);
// reopen-log: the app's CRI log file from now on (the kubelet renamed the old one); refused without one.
void reopen_cri_log(AppOutput& io, UniqueFd fd, const std::string& app);

}  // namespace pod::init
