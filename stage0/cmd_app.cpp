// pod app sandbox|add|start|stop|rm|list|status: apps in a running pod
// (Documentation/cli.md, "pod app"), each one call of the API's app operations.
#include <iostream>
#include <nlohmann/json.hpp>

#include "appflags.hpp"
#include "config/config.hpp"
#include "run/podspec.hpp"
#include "context.hpp"
#include "exitcodes.hpp"
#include "table.hpp"
#include "util/error.hpp"
#include "util/time.hpp"

namespace pod::cli {

namespace {

using nlohmann::json;

json app_json(const AppState& a) {
  json j = {{"name", a.name}, {"state", a.state}, {"imageName", a.image_name}, {"imageId", a.image_id}};
  if (a.pid) j["pid"] = *a.pid;
  if (a.exit_code) j["exitCode"] = *a.exit_code;
  if (a.signal) j["signal"] = *a.signal;
  if (a.started) j["startedAt"] = format_rfc3339(*a.started);
  if (a.finished) j["finishedAt"] = format_rfc3339(*a.finished);
  if (!a.after.empty()) j["after"] = a.after;
  if (!a.after_ready.empty()) j["afterReady"] = a.after_ready;
  if (!a.error.empty()) j["error"] = a.error;
  if (a.notifies) j["ready"] = a.readiness && a.readiness->ready;
  if (a.readiness && a.readiness->ready_at) j["readyAt"] = format_rfc3339(*a.readiness->ready_at);
  if (a.readiness && !a.readiness->status.empty()) j["notifyStatus"] = a.readiness->status;
  return j;
}

void print_json(const json& j, const std::string& format) { std::cout << j.dump(format == "json" ? -1 : 2) << "\n"; }

struct SandboxFlags {
  PodSpec spec;
  PodFlagStrings strings;
};

struct AppFlags {
  std::string uuid, format = "text";
  std::vector<std::string> apps;
  bool force = false;
  std::string timeout = "10s";
};

void add_format(CLI::App* c, std::string& format) {
  c->add_option("--format", format, "Output format")->check(CLI::IsMember({"text", "json", "json-pretty"}))->capture_default_str();
}

void register_sandbox(CLI::App& app, Context& ctx) {
  auto f = std::make_shared<SandboxFlags>();
  auto* c = app.add_subcommand("sandbox", "Start a pod with no apps, running until it is stopped: pod app sandbox [pod flags]");
  add_pod_flags(*c, f->spec, f->strings);
  c->callback([&ctx, f] {
    finish_pod_flags(f->spec, f->strings, ctx.data_dir());
    f->spec.debug = ctx.debug;
    std::cout << ctx.runtime().create_sandbox(f->spec) << "\n";
  });
}

struct AddFlags {
  std::string uuid, insecure;
  std::vector<std::string> volumes;
};

void register_add(CLI::App& app, Context& ctx) {
  auto f = std::make_shared<AddFlags>();
  auto* c = app.add_subcommand("add", "Add an app to a running pod (created, not started): pod app add UUID IMAGE [app flags] [-- args]");
  c->add_option("uuid", f->uuid, "Pod UUID or unique prefix")->required();
  c->add_option("--insecure-options", f->insecure, "image (accept an unsigned image), http, tls");
  c->add_option("--volume", f->volumes,
                "NAME,kind=host,source=PATH[,readOnly=true][,recursive=false] or NAME,kind=empty[,mode=,uid=,gid=]: "
                "a volume the pod gains with the app, for its --mount volume=NAME,target=PATH (repeatable)");
  c->footer("App flags, after IMAGE: as for pod run (--name, --exec, --set-env, --mount, --after NAME, …), then `-- ARGS`.");
  c->callback([&ctx, f] {
    auto apps = parse_app_groups(ctx.tail);
    if (apps.size() != 1) throw usage_error("pod app add takes one IMAGE (no ---)");
    for (const auto& v : f->volumes) apps.front().volumes.push_back(run::parse_volume(v));
    Runtime& rt = ctx.runtime();
    FetchOptions fo = parse_insecure_options(insecure_or_config(f->insecure, config::load(ctx.data_dir()), true), FetchOptions{});
    std::cout << rt.add_app(rt.resolve_pod(f->uuid), apps.front(), fo) << "\n";
  });
}

void print_app_state(const AppState& a, const std::string& format);

// start, rm, status: one --app.
void register_one_app(CLI::App& app, Context& ctx, const char* verb, const char* help) {
  auto f = std::make_shared<AppFlags>();
  auto* c = app.add_subcommand(verb, help);
  c->add_option("uuid", f->uuid, "Pod UUID or unique prefix")->required();
  c->add_option("--app", f->apps, "The app")->required()->expected(1);
  if (std::string(verb) != "rm") add_format(c, f->format);
  const std::string v = verb;
  c->callback([&ctx, f, v] {
    Runtime& rt = ctx.runtime(v == "status");
    const std::string uuid = rt.resolve_pod(f->uuid);
    const std::string& name = f->apps.front();
    if (v == "rm") {
      rt.remove_app(uuid, name);
      std::cout << name << "\n";
      return;
    }
    print_app_state(v == "start" ? rt.start_app(uuid, name) : rt.app_status(uuid, name), f->format);
  });
}

void register_update(CLI::App& app, Context& ctx) {
  auto f = std::make_shared<AppFlags>();
  auto iso = std::make_shared<IsolatorSpec>();
  auto* c = app.add_subcommand("update", "Change the resource limits of an app of a running pod, at once");
  c->add_option("uuid", f->uuid, "Pod UUID or unique prefix")->required();
  c->add_option("--app", f->apps, "The app")->required()->expected(1);
  c->add_option("--memory", iso->memory, "Memory limit (32M, 1Gi, ...), as for pod run");
  c->add_option("--cpu", iso->cpu, "CPU limit (500m, 1.5)");
  c->add_option("--cpu-shares", iso->cpu_shares, "CPU shares (2-262144)");
  c->add_option("--pids-limit", iso->pids_limit, "Process limit");
  add_format(c, f->format);
  c->callback([&ctx, f, iso] {
    Runtime& rt = ctx.runtime();
    print_app_state(rt.update_app_resources(rt.resolve_pod(f->uuid), f->apps.front(), *iso), f->format);
  });
}

void print_app_state(const AppState& a, const std::string& format) {
  if (format != "text") return print_json(app_json(a), format);
  std::cout << "name=" << a.name << "\nstate=" << a.state << "\n";
  if (a.pid) std::cout << "pid=" << *a.pid << "\n";
  if (a.exit_code) std::cout << "exit-code=" << *a.exit_code << "\n";
  if (a.started) std::cout << "started=" << format_rfc3339(*a.started) << "\n";
  if (a.finished) std::cout << "finished=" << format_rfc3339(*a.finished) << "\n";
  if (a.notifies) std::cout << "ready=" << (a.readiness && a.readiness->ready ? "true" : "false") << "\n";
  if (a.readiness && a.readiness->ready_at) std::cout << "ready-at=" << format_rfc3339(*a.readiness->ready_at) << "\n";
  if (a.readiness && !a.readiness->status.empty()) std::cout << "notify-status=" << a.readiness->status << "\n";
  if (!a.error.empty()) std::cout << "error=" << a.error << "\n";
}

void register_stop(CLI::App& app, Context& ctx) {
  auto f = std::make_shared<AppFlags>();
  auto* c = app.add_subcommand("stop", "Stop apps of a running pod (SIGTERM, SIGKILL after --timeout); the pod keeps running");
  c->add_option("uuid", f->uuid, "Pod UUID or unique prefix")->required();
  c->add_option("--app", f->apps, "An app to stop (repeatable; default: every running app)");
  c->add_flag("--force", f->force, "SIGKILL at once");
  c->add_option("--timeout", f->timeout, "Time between SIGTERM and SIGKILL")->capture_default_str();
  add_format(c, f->format);
  c->callback([&ctx, f] {
    AppStopOptions o;
    o.force = f->force;
    o.timeout = parse_duration(f->timeout, "--timeout");
    Runtime& rt = ctx.runtime();
    const auto outcomes = rt.stop_apps(rt.resolve_pod(f->uuid), f->apps, o);
    bool failed = false;
    nlohmann::ordered_json j = nlohmann::ordered_json::object();  // in stop order
    for (const auto& a : outcomes) {
      failed = failed || !a.ok;
      j[a.app] = {{"ok", a.ok}, {"message", a.message}};
      if (f->format == "text") (a.ok ? std::cout : std::cerr) << a.app << ": " << a.message << "\n";
    }
    if (f->format != "text") std::cout << j.dump(f->format == "json" ? -1 : 2) << "\n";
    ctx.rc = failed ? kExitError : kExitOk;
  });
}

void register_list_apps(CLI::App& app, Context& ctx) {
  auto f = std::make_shared<AppFlags>();
  auto* c = app.add_subcommand("list", "List the apps of a pod with their state");
  c->add_option("uuid", f->uuid, "Pod UUID or unique prefix")->required();
  add_format(c, f->format);
  c->callback([&ctx, f] {
    Runtime& rt = ctx.runtime(true);
    const auto apps = rt.list_apps(rt.resolve_pod(f->uuid));
    if (f->format != "text") {
      json j = json::array();
      for (const auto& a : apps) j.push_back(app_json(a));
      return print_json(j, f->format);
    }
    std::vector<std::vector<std::string>> rows;
    for (const auto& a : apps)
      rows.push_back({a.name, a.state, a.pid ? std::to_string(*a.pid) : "-",
                      a.exit_code ? std::to_string(*a.exit_code) : "-", a.image_name});
    print_table(std::cout, {"NAME", "STATE", "PID", "EXIT", "IMAGE"}, rows, true);
  });
}

}  // namespace

void register_app(CLI::App& app, Context& ctx) {
  auto* a = app.add_subcommand("app", "Apps in a running pod: sandbox, add, start, stop, rm, list, status, update");
  a->require_subcommand(1);
  register_sandbox(*a, ctx);
  register_add(*a, ctx);
  register_one_app(*a, ctx, "start", "Start a created app of a running pod");
  register_stop(*a, ctx);
  register_one_app(*a, ctx, "rm", "Remove an app that is not running from a running pod");
  register_list_apps(*a, ctx);
  register_one_app(*a, ctx, "status", "Show one app's state, pid, exit code and times");
  register_update(*a, ctx);
}

}  // namespace pod::cli
