#include <time.h>

#include <iostream>

#include "context.hpp"
#include "podjson.hpp"
#include "util/error.hpp"
#include "util/time.hpp"

namespace pod::cli {

namespace {
struct StatusOptions {
  std::string uuid;
  std::string uuid_file;
  std::string format = "text";
  std::string wait;        // "" = no wait; "forever" or a duration
  std::string wait_ready;
  bool check_net = false;
};

// --wait / --wait-ready: "forever" or a duration.
void wait_for(Runtime& rt, const std::string& uuid, const std::string& spec, const char* flag, bool ready) {
  std::optional<std::chrono::milliseconds> timeout;
  if (spec != "forever") timeout = parse_duration(spec, flag);
  if (!rt.wait_pod(uuid, timeout, ready))
    throw Error(std::string("timed out waiting (") + flag + "); pod " + uuid + " is " +
                    state_name(rt.pod_status(uuid).state),
                ETIMEDOUT);
}

// app-NAME-pre-start=CODE|timeout, and its output on one line (newlines as \n)
// when it failed.
void print_handler(const std::string& app, const char* name, const std::optional<HookOutcome>& o) {
  if (!o) return;
  std::cout << "app-" << app << "-" << name << "=" << (o->timed_out ? std::string("timeout") : std::to_string(o->exit_code))
            << "\n";
  if (o->exit_code == 0 && !o->timed_out) return;
  std::string line;
  for (char c : o->output) line += c == '\n' ? std::string("\\n") : std::string(1, c);
  std::cout << "app-" << app << "-" << name << "-output=" << line << "\n";
}

void print_text(const PodStatus& i) {
  std::cout << "state=" << state_name(i) << "\n";
  if (i.created) std::cout << "created=" << format_time(*i.created) << "\n";
  if (i.started) std::cout << "started=" << format_time(*i.started) << "\n";
  if (i.pid) std::cout << "pid=" << *i.pid << "\n";
  bool ran = i.started.has_value();
  if (ran) std::cout << "exited=" << (i.state == PodState::Running ? "false" : "true") << "\n";
  for (const auto& a : i.apps) {
    if (a.exit) std::cout << "app-" << a.name << "=" << a.exit->exit_code << "\n";
    if (a.exit && a.exit->oom_killed) std::cout << "app-" << a.name << "-oom-killed=true\n";
    if (a.exit) print_handler(a.name, "pre-start", a.exit->pre_start);
    if (a.exit) print_handler(a.name, "post-stop", a.exit->post_stop);
    if (a.exit && !a.exit->error.empty()) std::cout << "app-" << a.name << "-error=" << a.exit->error << "\n";
    if (a.notifies) std::cout << "app-" << a.name << "-ready=" << (a.readiness && a.readiness->ready ? "true" : "false") << "\n";
    if (a.readiness && !a.readiness->status.empty()) std::cout << "app-" << a.name << "-notify-status=" << a.readiness->status << "\n";
    for (const auto& [name, value] : a.isolators) std::cout << "app-" << a.name << "-isolator=" << name << " " << value << "\n";
    for (const auto& why : a.ignored_isolators) std::cout << "app-" << a.name << "-isolator-ignored=" << why << "\n";
  }
  for (const auto& [when, h] : i.hooks)
    std::cout << "hook-" << when << "=" << (h.timed_out ? std::string("timeout") : std::to_string(h.exit_code)) << "\n";
  if (!i.failure.empty()) std::cout << "failure=" << i.failure << "\n";
  if (!i.net.empty()) std::cout << "net=" << i.net << "\n";
  if (!i.rootfs_mode.empty()) std::cout << "rootfs=" << i.rootfs_mode << "\n";
  if (!i.user_namespace.empty()) std::cout << "user-namespace=" << i.user_namespace << "\n";
  for (const auto& n : i.networks) {
    std::string ips, ports;
    for (const auto& a : n.ips) ips += (ips.empty() ? "" : ",") + a;
    for (const auto& p : n.ports) ports += (ports.empty() ? "" : ",") + p;
    std::cout << "network-" << n.name << "=" << n.ifname << " " << (n.state.empty() ? "-" : n.state) << " "
              << (ips.empty() ? "-" : ips) << (ports.empty() ? "" : " " + ports) << "\n";
  }
  for (const auto& n : i.networks)
    if (!n.check.empty()) std::cout << "network-" << n.name << "-check=" << n.check << "\n";
  if (!i.network_error.empty()) std::cout << "network-error=" << i.network_error << "\n";
}

void run_status(Context& ctx, const StatusOptions& o) {
  Runtime& rt = ctx.runtime(true);
  const std::string uuid = rt.resolve_pod(uuid_from_args(o.uuid, o.uuid_file));
  if (!o.wait_ready.empty()) wait_for(rt, uuid, o.wait_ready, "--wait-ready", true);
  if (!o.wait.empty()) wait_for(rt, uuid, o.wait, "--wait", false);
  PodStatus info = o.check_net ? rt.check_pod_networks(uuid) : rt.pod_status(uuid);
  if (o.format == "json" || o.format == "json-pretty")
    std::cout << (o.format == "json" ? status_json(info).dump() : status_json(info).dump(2)) << "\n";
  else
    print_text(info);
  for (const auto& n : info.networks)
    if (!n.check.empty() && n.check != "ok") throw Error("network " + n.name + " failed its CNI CHECK");
}
}  // namespace

void register_status(CLI::App& app, Context& ctx) {
  auto o = std::make_shared<StatusOptions>();
  auto* c = app.add_subcommand("status", "Show a pod's state, times, pid and app exit codes");
  c->add_option("uuid", o->uuid, "Pod UUID or unique prefix");
  c->add_option("--uuid-file", o->uuid_file, "Read the pod UUID from this file");
  c->add_option("--format", o->format, "Output format")->check(CLI::IsMember({"text", "json", "json-pretty"}));
  c->add_option("--wait", o->wait, "Wait until the pod has exited; --wait=forever or --wait=DURATION")
      ->expected(1);
  c->add_option("--wait-ready", o->wait_ready, "Wait until the pod is running; --wait-ready=forever or =DURATION")
      ->expected(1);
  c->add_flag("--check-net", o->check_net,
              "Have the CNI plugins CHECK each network of the running pod (exit 1 when one fails)");
  c->callback([&ctx, o] { run_status(ctx, *o); });
}

}  // namespace pod::cli
