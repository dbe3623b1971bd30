#include "pods/info.hpp"

#include <fcntl.h>

#include <algorithm>

#include "contract/appready.hpp"
#include "contract/manifest.hpp"
#include "contract/runtime.hpp"
#include "isolators/policy.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"

namespace pod {

std::optional<AppStatus> parse_app_status(const std::string& text) {
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("exitCode") || !j["exitCode"].is_number_integer())
    return std::nullopt;
  AppStatus s;
  s.exit_code = j["exitCode"].get<int>();
  if (j.contains("signal") && j["signal"].is_number_integer()) s.signal = j["signal"].get<int>();
  s.oom_killed = j.contains("oomKilled") && j["oomKilled"].is_boolean() && j["oomKilled"].get<bool>();
  auto handler = [&](const char* key) -> std::optional<HookOutcome> {
    if (!j.contains(key) || !j[key].is_object()) return std::nullopt;
    const auto& h = j[key];
    HookOutcome o;
    if (h.contains("exitCode") && h["exitCode"].is_number_integer()) o.exit_code = h["exitCode"].get<int>();
    if (h.contains("timedOut") && h["timedOut"].is_boolean()) o.timed_out = h["timedOut"].get<bool>();
    if (h.contains("output") && h["output"].is_string()) o.output = h["output"].get<std::string>();
    return o;
  };
  s.pre_start = handler("preStart");
  s.post_stop = handler("postStop");
  if (j.contains("error") && j["error"].is_string()) s.error = j["error"].get<std::string>();
  return s;
}

std::string format_app_status(const AppStatus& s) {
  nlohmann::json j = {{"exitCode", s.exit_code}};
  if (s.signal) j["signal"] = *s.signal;
  if (s.oom_killed) j["oomKilled"] = true;
  auto handler = [&](const char* key, const std::optional<HookOutcome>& o) {
    if (o) j[key] = {{"exitCode", o->exit_code}, {"timedOut", o->timed_out}, {"output", o->output}};
  };
  handler("preStart", s.pre_start);
  handler("postStop", s.post_stop);
  if (!s.error.empty()) j["error"] = s.error;
  return j.dump() + "\n";
}

std::vector<std::string> notify_apps(const Pod& pod, const contract::PodManifest& m) {
  try {
    return contract::notify_plan(contract::parse_runtime(try_read_file_at(pod.fd(), poddir::kRuntime, 1 << 20).value_or("")), m)
        .apps;
  } catch (const Error&) {
    return {};
  }
}

std::optional<AppReadyInfo> read_app_readiness(const Pod& pod, const std::string& app) {
  auto text = try_read_file_at(pod.fd(), poddir::app_ready(app), 64 << 10);
  auto r = text ? contract::parse_app_readiness(*text) : std::nullopt;
  if (!r) return std::nullopt;
  AppReadyInfo info{r->ready, std::nullopt, r->status};
  if (r->ready_at_ns > 0)
    info.ready_at = TimePoint(std::chrono::duration_cast<TimePoint::duration>(std::chrono::nanoseconds(r->ready_at_ns)));
  return info;
}

namespace {
void read_readiness(const Pod& pod, const std::vector<std::string>& notifying, AppInfo& app) {
  app.notifies = std::find(notifying.begin(), notifying.end(), app.name) != notifying.end();
  app.readiness = read_app_readiness(pod, app.name);
}

std::string image_display_name(const contract::ImageRef& image) {
  std::string name = image.name;
  for (const auto& l : image.labels)
    if (l.name == "version") name += ":" + l.value;
  return name;
}

void read_apps(const Pod& pod, PodInfo& info, InfoDetail detail) {
  auto text = try_read_file_at(pod.fd(), poddir::kManifest, 16 << 20);
  if (!text) {
    if (info.state != PodState::Embryo && info.state != PodState::Preparing) info.manifest_error = "no pod manifest";
    return;
  }
  contract::PodManifest m;
  try {
    m = contract::parse_pod_manifest(*text);
  } catch (const Error& e) {
    info.manifest_error = e.what();
    return;
  }
  UniqueFd sdir;
  std::vector<std::string> notifying;
  if (detail == InfoDetail::Full) {
    sdir = try_open_dir_at(pod.fd(), poddir::kAppStatusDir);
    notifying = notify_apps(pod, m);
  }
  for (const auto& a : m.apps) {
    AppInfo app;
    app.name = a.name;
    app.image_name = image_display_name(a.image);
    app.image_id = a.image.id;
    for (const auto& iso : a.app.isolators) {
      app.isolators.emplace_back(iso.name, iso.value.dump());
      if (const std::string why = isolators::ignored_because(iso.name); !why.empty())
        app.ignored_isolators.push_back(iso.name + ": " + why);
    }
    if (sdir) {
      if (auto st = try_read_file_at(sdir.get(), app.name, 64 << 10)) app.exit = parse_app_status(*st);
    }
    if (detail == InfoDetail::Full) read_readiness(pod, notifying, app);
    info.apps.push_back(std::move(app));
  }
}
}  // namespace

namespace {
// hooks/<when> (run/hooks.cpp): a JSON list of outcomes; the last one counts.
void read_hooks(const Pod& pod, PodInfo& info) {
  UniqueFd d = try_open_dir_at(pod.fd(), poddir::kHookResultsDir);
  if (!d) return;
  for (const auto& when : list_dir(d.get())) {
    auto j = nlohmann::json::parse(try_read_file_at(d.get(), when, 1 << 20).value_or(""), nullptr, false);
    if (!j.is_array() || j.empty() || !j.back().is_object()) continue;  // torn: nothing to say
    const auto& last = j.back();
    info.hooks[when] = {last.value("exitCode", 0), last.value("timedOut", false), last.value("output", "")};
  }
}
}  // namespace

PodInfo read_pod_info(const Pod& pod, PodState state, InfoDetail detail) {
  PodInfo info;
  info.uuid = pod.uuid();
  info.state = state;
  info.created = pod.read_time(poddir::kCreatedAt);
  if (state == PodState::Running) info.paused = exists_at(pod.fd(), poddir::kPaused);
  if (detail == InfoDetail::Summary) {
    info.started = pod.read_time(poddir::kStartedAt);
    read_apps(pod, info, detail);
    return info;
  }
  info.prepared = pod.read_time(poddir::kPreparedAt);
  info.started = pod.read_time(poddir::kStartedAt);
  info.gc_marked = pod.read_time(poddir::kGcMarkedAt);
  if (state == PodState::Running) {
    if (auto p = try_read_file_at(pod.fd(), poddir::kPid, 64)) {
      try {
        info.pid = static_cast<pid_t>(std::stol(*p));
      } catch (const std::exception&) {
      }
    }
  }
  if (auto f = try_read_file_at(pod.fd(), poddir::kFailure, 64 << 10)) {
    info.failure = *f;
    while (!info.failure.empty() && info.failure.back() == '\n') info.failure.pop_back();
  }
  read_apps(pod, info, detail);
  read_hooks(pod, info);
  return info;
}

}  // namespace pod
