#include "running.hpp"

#include "util/error.hpp"

namespace pod::init {

int64_t now_ns(clockid_t clock) {
  struct timespec ts {};
  ::clock_gettime(clock, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}
int64_t monotonic_ms() { return now_ns(CLOCK_MONOTONIC) / 1000000; }

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
