// One app as the pod init supervises it (supervisor.cpp), and the helpers
// that start it and write its records.
#pragma once
#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <ctime>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cgroups.hpp"
#include "config.hpp"
#include "exec.hpp"
#include "handlers.hpp"
#include "output.hpp"
#include "spawn.hpp"
#include "util/process.hpp"

namespace pod::init {

// Where an app is: its pre-start handler runs, the app runs, its post-stop
// handler runs, or it is done (with its exit record written).
enum class Phase { kInPreStart, kMain, kInPostStop, kDone };

struct Running {
  App app;
  Child child;                   // the app's main process
  std::optional<int> exit_code;  // set once it ended (or its pre-start failed)
  std::optional<int> signal;     // the signal that killed it
  AppOutput io;                  // its log, CRI log and the streams the init copies (spawn.hpp)
  AppCgroup cgroup;  // its resource limits, when it has any
  int64_t started_at = 0, finished_at = 0;  // ns since the epoch; 0 = not yet
  bool term_sent = false;                   // a pod stop signalled it
  std::optional<int64_t> kill_at;           // an app stop's SIGKILL deadline (monotonic ms)
  bool begun = false;                       // started: its pre-start handler or the app itself
  Phase phase = Phase::kMain;
  std::optional<ExecSpec> spec, pre_start, post_stop;
  Child handler;  // the event handler running now
  std::optional<std::chrono::steady_clock::time_point> handler_deadline;
  bool handler_timed_out = false;
  std::optional<HandlerOutcome> pre_outcome, post_outcome;
  bool pending = false;  // a boot app not started yet: it waits for its --after apps (start_pending)
  bool ready = false;    // it said READY=1 on its NOTIFY_SOCKET (appready/<app>)
  std::string error;     // why it failed without running (an --after NAME:ready that cannot be met)

  bool created() const { return !begun; }
  bool running() const { return child && !exit_code; }
  // Its pre-start handler running counts as running (the app is on its way).
  const char* state() const { return exit_code ? "exited" : begun ? "running" : "created"; }
};


int64_t now_ns(clockid_t clock);
int64_t monotonic_ms();

// The app's exit record (appstatus/<app>, stage1-abi.md); `oom`: the OOM killer
// killed a process of its cgroup.
std::string exit_record(const Running& r, bool oom);
// When it started and ended (apptimes/<app>): ns since the epoch.
std::string times_record(const Running& r);

}  // namespace pod::init
