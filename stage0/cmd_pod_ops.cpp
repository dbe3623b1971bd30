// pod enter / stop / cat-manifest / logs: commands on an existing pod.
#include <unistd.h>

#include <iostream>
#include <nlohmann/json.hpp>
#include <map>
#include <optional>

#include "context.hpp"
#include "exitcodes.hpp"
#include "util/error.hpp"
#include "util/time.hpp"

namespace pod::cli {

namespace {

struct EnterFlags {
  std::string app, uuid;
};

struct StopFlags {
  std::vector<std::string> uuids;
  std::string uuid_file;
  bool force = false;
  std::string timeout = "30s";
};

void run_stop(Context& ctx, const StopFlags& f) {
  const auto uuids = uuids_from_args(f.uuids, f.uuid_file, "stop");
  StopOptions o;
  o.force = f.force;
  o.timeout = parse_duration(f.timeout, "--timeout");
  Runtime& rt = ctx.runtime();
  int rc = 0;
  for (const auto& a : uuids) {
    try {
      const std::string uuid = rt.resolve_pod(a);
      if (!rt.stop_pod(uuid, o)) std::cerr << "pod: pod " << uuid << " is already stopped\n";
      std::cout << "\"" << uuid << "\"\n";
    } catch (const Error& e) {
      std::cerr << "pod: " << e.what() << "\n";
      if (!rc) rc = exit_code_for(e);
    }
  }
  ctx.rc = rc;
}

struct LogsFlags {
  std::string uuid, app, since, until;
  bool follow = false, timestamps = false;
  std::optional<size_t> tail;
};

// One app: its bytes as they are. Several: each app's log under a header, or,
// following, every line prefixed "<app>: " (lines of different apps interleave).
void run_logs(Context& ctx, const LogsFlags& f) {
  Runtime& rt = ctx.runtime(true);
  LogOptions o;
  if (!f.app.empty()) o.apps = {f.app};
  o.follow = f.follow;
  o.tail = f.tail;
  const auto now = Clock::now();
  if (!f.since.empty()) o.since = parse_time_point(f.since, "--since", now);
  if (!f.until.empty()) o.until = parse_time_point(f.until, "--until", now);
  o.timestamps = f.timestamps;
  const std::string uuid = rt.resolve_pod(f.uuid);
  const size_t napps = f.app.empty() ? rt.pod_status(uuid).apps.size() : 1;
  std::map<std::string, std::string> partial;
  std::string last_header;
  rt.read_logs(uuid, o, [&](const std::string& app, const std::string& data) {
    if (napps <= 1) {
      std::cout << data << std::flush;
    } else if (!f.follow) {
      if (app != last_header) std::cout << "==> " << app << " <==\n";
      last_header = app;
      std::cout << data;
    } else {
      std::string& held = partial[app];
      held += data;
      size_t nl;
      while ((nl = held.find('\n')) != std::string::npos) {
        std::cout << app << ": " << held.substr(0, nl + 1);
        held.erase(0, nl + 1);
      }
      std::cout << std::flush;
    }
    return static_cast<bool>(std::cout);
  });
  for (const auto& [app, rest] : partial)
    if (!rest.empty()) std::cout << app << ": " << rest << "\n";
}
}  // namespace

void register_pod_ops(CLI::App& app, Context& ctx) {
  auto ef = std::make_shared<EnterFlags>();
  auto* e = app.add_subcommand("enter", "Run a command inside a running pod: pod enter [--app NAME] UUID [CMD...]");
  e->add_option("--app", ef->app, "App whose root and environment to use");
  e->add_option("uuid", ef->uuid, "Pod UUID or unique prefix")->required();
  e->callback([&ctx, ef] {
    std::vector<std::string> cmd = ctx.tail;
    if (!cmd.empty() && cmd.front() == "--") cmd.erase(cmd.begin());
    ctx.runtime().enter_pod(ef->uuid, ef->app, cmd, ::isatty(0) && ::isatty(1));
  });

  auto sf = std::make_shared<StopFlags>();
  auto* s = app.add_subcommand("stop", "Stop running pods (SIGTERM to the apps, SIGKILL after a timeout)");
  s->add_option("uuid", sf->uuids, "Pod UUIDs or unique prefixes");
  s->add_option("--uuid-file", sf->uuid_file, "Read the pod UUID from this file");
  s->add_flag("--force", sf->force, "Kill at once");
  s->add_option("--timeout", sf->timeout, "How long to wait for the pod to exit")->capture_default_str();
  s->callback([&ctx, sf] { run_stop(ctx, *sf); });

  auto cm = std::make_shared<std::pair<std::string, std::string>>("", "json-pretty");  // uuid, format
  auto* m = app.add_subcommand("cat-manifest", "Print a pod's manifest");
  m->add_option("uuid", cm->first, "Pod UUID or unique prefix")->required();
  m->add_option("--format", cm->second, "Output format (json: one line)")->check(CLI::IsMember({"json", "json-pretty"}));
  m->callback([&ctx, cm] {
    const std::string text = ctx.runtime(true).pod_manifest(cm->first);
    std::cout << (cm->second == "json" ? nlohmann::json::parse(text).dump() + "\n" : text);
  });

  auto lf = std::make_shared<LogsFlags>();
  auto* l = app.add_subcommand("logs", "Print the output of a pod's apps");
  l->add_option("uuid", lf->uuid, "Pod UUID or unique prefix")->required();
  l->add_option("--app", lf->app, "Only this app");
  l->add_flag("--follow,-f", lf->follow, "Keep printing what the apps write until the pod has exited");
  l->add_option("--tail", lf->tail, "Only the last N lines of each app's log (then what follows)");
  l->add_option("--since", lf->since, "Only lines that arrived at or after this time (RFC 3339, Unix time, or a duration ago: 10m)");
  l->add_option("--until", lf->until, "Only lines that arrived at or before this time (same forms); --follow ends then");
  l->add_flag("--timestamps,-t", lf->timestamps, "Prefix each line with the time it arrived (RFC 3339, UTC, ns)");
  l->callback([&ctx, lf] { run_logs(ctx, *lf); });
}

}  // namespace pod::cli
