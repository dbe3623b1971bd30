#include "podjson.hpp"

#include "util/time.hpp"

namespace pod::cli {

nlohmann::json status_json(const PodStatus& s) {
  nlohmann::json j;
  j["uuid"] = s.uuid;
  j["state"] = state_name(s);
  j["paused"] = s.paused;
  if (!s.hooks.empty()) {
    nlohmann::json h = nlohmann::json::object();
    for (const auto& [when, o] : s.hooks) h[when] = {{"exitCode", o.exit_code}, {"timedOut", o.timed_out}, {"output", o.output}};
    j["hooks"] = h;
  }
  auto t = [&](const char* k, const std::optional<TimePoint>& v) {
    if (v) j[k] = format_rfc3339(*v);
  };
  t("created", s.created);
  t("prepared", s.prepared);
  t("started", s.started);
  t("gcMarked", s.gc_marked);
  if (s.pid) j["pid"] = *s.pid;
  j["apps"] = nlohmann::json::array();
  for (const auto& a : s.apps) {
    nlohmann::json ja = {{"name", a.name}, {"image", a.image_name}, {"imageID", a.image_id}};
    if (a.exit) {
      ja["exitCode"] = a.exit->exit_code;
      if (a.exit->signal) ja["signal"] = *a.exit->signal;
      if (a.exit->oom_killed) ja["oomKilled"] = true;
      auto handler = [&](const char* key, const std::optional<HookOutcome>& o) {
        if (o) ja[key] = {{"exitCode", o->exit_code}, {"timedOut", o->timed_out}, {"output", o->output}};
      };
      handler("preStart", a.exit->pre_start);
      handler("postStop", a.exit->post_stop);
      if (!a.exit->error.empty()) ja["error"] = a.exit->error;
    }
    if (a.notifies) ja["ready"] = a.readiness && a.readiness->ready;
    if (a.readiness && a.readiness->ready_at) ja["readyAt"] = format_rfc3339(*a.readiness->ready_at);
    if (a.readiness && !a.readiness->status.empty()) ja["notifyStatus"] = a.readiness->status;
    if (!a.isolators.empty()) {
      ja["isolators"] = nlohmann::json::array();
      for (const auto& [name, value] : a.isolators)
        ja["isolators"].push_back({{"name", name}, {"value", nlohmann::json::parse(value, nullptr, false)}});
    }
    if (!a.ignored_isolators.empty()) ja["ignoredIsolators"] = a.ignored_isolators;
    j["apps"].push_back(std::move(ja));
  }
  if (!s.flavor.empty()) j["flavor"] = s.flavor;
  if (!s.net.empty()) j["net"] = s.net;
  if (!s.rootfs_mode.empty()) j["rootfsMode"] = s.rootfs_mode;
  if (!s.user_namespace.empty()) j["userNamespace"] = s.user_namespace;
  j["networks"] = nlohmann::json::array();
  for (const auto& n : s.networks) {
    nlohmann::json e = {{"name", n.name}, {"ifname", n.ifname}, {"state", n.state}, {"ips", n.ips}, {"ports", n.ports}};
    if (!n.check.empty()) e["check"] = n.check;
    j["networks"].push_back(e);
  }
  if (!s.network_error.empty()) j["networkError"] = s.network_error;
  if (!s.failure.empty()) j["failure"] = s.failure;
  if (!s.manifest_error.empty()) j["manifestError"] = s.manifest_error;
  return j;
}

}  // namespace pod::cli
