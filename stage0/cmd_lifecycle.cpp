// pod kill / pause / resume / stats: operations on a running pod
// (Documentation/cli.md), each one call of the API's lifecycle operations.
#include <signal.h>
#include <string.h>

#include <iostream>
#include <nlohmann/json.hpp>

#include "context.hpp"
#include "exitcodes.hpp"
#include "util/error.hpp"
#include "util/time.hpp"

namespace pod::cli {

namespace {

// "TERM", "SIGTERM", "sigterm" or "15".
int parse_signal(const std::string& s) {
  if (!s.empty() && std::all_of(s.begin(), s.end(), ::isdigit)) {
    int n = std::stoi(s.substr(0, 3));
    if (n >= 1 && n <= 64 && s.size() <= 3) return n;
    throw usage_error("--signal " + s + ": not a signal number (1-64)");
  }
  std::string name;
  for (char c : s) name += static_cast<char>(::toupper(static_cast<unsigned char>(c)));
  if (name.rfind("SIG", 0) == 0) name = name.substr(3);
  for (int n = 1; n < NSIG; ++n)
    if (const char* abbrev = ::sigabbrev_np(n); abbrev && name == abbrev) return n;
  throw usage_error("--signal " + s + ": unknown signal (a name such as TERM, KILL, HUP, USR1 or a number)");
}

struct KillFlags {
  std::string uuid, signal = "TERM", format = "text";
  std::vector<std::string> apps;
};

void run_kill(Context& ctx, const KillFlags& f) {
  KillOptions o;
  o.signal = parse_signal(f.signal);
  o.apps = f.apps;  // one: an unknown app is exit 3; several: each app's own outcome
  Runtime& rt = ctx.runtime();
  const std::string uuid = rt.resolve_pod(f.uuid);
  const auto outcomes = rt.kill_pod(uuid, o);
  bool failed = false;
  nlohmann::json j = nlohmann::json::object();
  for (const auto& a : outcomes) {
    failed = failed || !a.ok;
    j[a.app] = {{"ok", a.ok}, {"message", a.message}};
    if (f.format == "text") (a.ok ? std::cout : std::cerr) << a.app << ": " << a.message << "\n";
  }
  if (f.format != "text") std::cout << j.dump(f.format == "json" ? -1 : 2) << "\n";
  ctx.rc = failed ? kExitError : kExitOk;
}

void print_usage_text(const std::string& who, const Usage& u, const std::optional<std::string>& state) {
  auto num = [](const std::optional<uint64_t>& v) { return v ? std::to_string(*v) : std::string("-"); };
  std::cout << who << (state ? " " + *state : "") << " cpu_ns=" << num(u.cpu_ns) << " memory_bytes=" << num(u.memory_bytes)
            << " pids=" << num(u.pids) << " source=" << (u.source.empty() ? "-" : u.source) << "\n";
}

nlohmann::json usage_json(const Usage& u) {
  nlohmann::json j = {{"source", u.source}};
  if (u.cpu_ns) j["cpuNs"] = *u.cpu_ns;
  if (u.memory_bytes) j["memoryBytes"] = *u.memory_bytes;
  if (u.pids) j["pids"] = *u.pids;
  return j;
}

void run_stats(Context& ctx, const std::string& uuid_arg, const std::string& format) {
  Runtime& rt = ctx.runtime(true);
  const PodStats s = rt.pod_stats(rt.resolve_pod(uuid_arg));
  if (format == "text") {
    print_usage_text("pod", s.pod, s.paused ? std::optional<std::string>("paused") : std::nullopt);
    for (const auto& a : s.apps)
      print_usage_text("app " + a.name, a.usage,
                       a.running ? std::string("running")
                                 : "exited" + (a.exit_code ? "(" + std::to_string(*a.exit_code) + ")" : std::string()));
    return;
  }
  nlohmann::json apps = nlohmann::json::array();
  for (const auto& a : s.apps) {
    nlohmann::json e = usage_json(a.usage);
    e["name"] = a.name;
    e["running"] = a.running;
    if (a.exit_code) e["exitCode"] = *a.exit_code;
    apps.push_back(e);
  }
  nlohmann::json j = {{"uuid", s.uuid}, {"timestamp", format_rfc3339(s.taken)}, {"paused", s.paused},
                      {"pod", usage_json(s.pod)}, {"apps", apps}};
  std::cout << j.dump(format == "json" ? -1 : 2) << "\n";
}

struct RestartFlags {
  std::string uuid, timeout = "30s";
  bool force = false;
};

void run_restart(Context& ctx, const RestartFlags& f) {
  Runtime& rt = ctx.runtime();
  const std::string uuid = rt.resolve_pod(f.uuid);
  StopOptions o;
  o.force = f.force;
  o.timeout = parse_duration(f.timeout, "--timeout");
  const auto last_start = rt.pod_status(uuid).started;
  RunningPod p = rt.restart_pod(uuid, o, /*detach=*/true);
  if (!rt.wait_pod(uuid, o.timeout, /*until_ready=*/true))
    throw Error("pod " + uuid + " restarted but is not ready after " + f.timeout, ETIMEDOUT);
  const PodStatus st = rt.pod_status(uuid);
  if (st.state != PodState::Running) {  // over already: did this run's apps run at all?
    const int code = p.wait();
    bool ran = false;
    for (const auto& a : st.apps) ran = ran || a.exit.has_value();
    ran = ran && st.started != last_start;
    if (!ran)
      throw Error("pod " + uuid + " did not start again (status " + std::to_string(code) + ")" +
                      (st.failure.empty() ? "" : ": " + st.failure),
                  0, ErrorKind::Stage1);
  }
  std::cout << "\"" << uuid << "\"\n";
}

}  // namespace

void register_lifecycle(CLI::App& app, Context& ctx) {
  auto kf = std::make_shared<KillFlags>();
  auto* k = app.add_subcommand("kill", "Send a signal to the apps (or one app) of a running pod, through its init");
  k->add_option("uuid", kf->uuid, "Pod UUID or unique prefix")->required();
  k->add_option("--signal,-s", kf->signal, "Signal name or number")->capture_default_str();
  k->add_option("--app", kf->apps, "Only this app (repeatable: each app's outcome on its own)");
  k->add_option("--format", kf->format, "Output format")->check(CLI::IsMember({"text", "json", "json-pretty"}));
  k->callback([&ctx, kf] { run_kill(ctx, *kf); });

  for (bool pause : {true, false}) {
    auto uuid = std::make_shared<std::string>();
    auto* c = app.add_subcommand(pause ? "pause" : "resume",
                                 pause ? "Freeze every process of a running pod (state paused)"
                                       : "Thaw a paused pod");
    c->add_option("uuid", *uuid, "Pod UUID or unique prefix")->required();
    c->callback([&ctx, uuid, pause] {
      Runtime& rt = ctx.runtime();
      const std::string full = rt.resolve_pod(*uuid);
      bool changed = pause ? rt.pause_pod(full) : rt.resume_pod(full);
      if (!changed) std::cerr << "pod: pod " << full << (pause ? " is already paused\n" : " is not paused\n");
      std::cout << "\"" << full << "\"\n";
    });
  }

  auto rf = std::make_shared<RestartFlags>();
  auto* r = app.add_subcommand("restart", "Stop a pod (if it runs) and start its same trees again, in the background");
  r->add_option("uuid", rf->uuid, "Pod UUID or unique prefix")->required();
  r->add_flag("--force", rf->force, "Kill the running pod at once instead of SIGTERM");
  r->add_option("--timeout", rf->timeout, "How long to wait for the pod to stop, and then to be ready")
      ->capture_default_str();
  r->callback([&ctx, rf] { run_restart(ctx, *rf); });

  auto sf = std::make_shared<std::pair<std::string, std::string>>("", "text");
  auto* s = app.add_subcommand("stats", "Show a running pod's CPU time, memory and process counts, per app");
  s->add_option("uuid", sf->first, "Pod UUID or unique prefix")->required();
  s->add_option("--format", sf->second, "Output format")->check(CLI::IsMember({"text", "json", "json-pretty"}));
  s->callback([&ctx, sf] { run_stats(ctx, sf->first, sf->second); });
}

}  // namespace pod::cli
