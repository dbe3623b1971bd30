// What `pod list` and `pod status` show about a pod, read through its dir fd.
#pragma once
#include <sys/types.h>

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "contract/manifest.hpp"
#include "pods/pod.hpp"

namespace pod {

// Files the stage1 writes into the pod dir (Documentation/stage1-abi.md).

// An app's exit record and what status shows of an app: the public types (include/pod/types.hpp).
using AppStatus = AppExit;
using AppInfo = AppStatusInfo;

struct PodInfo {
  std::string uuid;
  PodState state = PodState::Gone;
  std::optional<Clock::time_point> created, prepared, started, gc_marked;
  std::optional<pid_t> pid;
  bool paused = false;         // running, and `pod pause` froze it
  std::map<std::string, HookOutcome> hooks;
  std::vector<AppInfo> apps;
  std::string failure;         // stage0/stage1's reason the pod failed, if any
  std::string manifest_error;  // set when the pod manifest is missing or unreadable
};

// How much read_pod_info() reads. Summary is what `pod list`'s table shows
// (created/started times, apps and image names): at 10 000 pods it skips
// ~10 syscalls per pod (prepared-at, gc-marked-at, failure, pid, appstatus/).
enum class InfoDetail { Full, Summary };

PodInfo read_pod_info(const Pod& pod, PodState state, InfoDetail detail = InfoDetail::Full);
// The apps of `m` that get a NOTIFY_SOCKET (runtime.json's notify plan; none when unreadable).
std::vector<std::string> notify_apps(const Pod& pod, const contract::PodManifest& m);
// appready/<app>: what the app said over sd_notify; nullopt when nothing (yet).
std::optional<AppReadyInfo> read_app_readiness(const Pod& pod, const std::string& app);
// Parse an appstatus/<app> record; nullopt when malformed.
std::optional<AppStatus> parse_app_status(const std::string& text);
std::string format_app_status(const AppStatus& s);

}  // namespace pod
