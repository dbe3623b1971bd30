// pod prepare / run / run-prepared
#include <iostream>

#include "appflags.hpp"
#include "config/config.hpp"
#include "context.hpp"
#include "exitcodes.hpp"
#include "run/podspec.hpp"
#include "util/error.hpp"

namespace pod::cli {

namespace {
struct RunFlags {
  PodSpec spec;
  PodFlagStrings strings;
  bool quiet = false;
};

void register_prepare_like(CLI::App& app, Context& ctx, bool run_it) {
  auto f = std::make_shared<RunFlags>();
  auto* c = app.add_subcommand(run_it ? "run" : "prepare",
                               run_it ? "Prepare and run a pod: pod run [flags] IMAGE [app flags] [-- args] [--- IMAGE …]"
                                      : "Prepare a pod to run later: pod prepare [flags] IMAGE [app flags] [--- IMAGE …]");
  add_pod_flags(*c, f->spec, f->strings);
  c->add_option("--pod-manifest", f->spec.pod_manifest,
                "Run this appc pod manifest (apps, volumes, ports, annotations) instead of IMAGE arguments");
  c->add_flag("--strict-isolators", f->spec.strict_isolators,
              "Fail when an app has an isolator pod would ignore (unknown or not implemented) instead of a warning");
  if (!run_it) c->add_flag("--quiet", f->quiet, "Print only the UUID");
  c->footer(
      "App flags, after each IMAGE: --name NAME, --exec CMD, --set-env N=V, --set-env-file FILE, --inherit-env,\n"
      "--user NAME|UID, --group NAME|GID, --working-dir DIR, --mount volume=NAME,target=PATH, --readonly-rootfs;\n"
      "then `-- ARGS` for the app's arguments and `---` before the next IMAGE. See Documentation/cli.md.");
  c->callback([&ctx, f, run_it] {
    finish_pod_flags(f->spec, f->strings, ctx.data_dir());
    if (f->spec.pod_manifest.empty() || !ctx.tail.empty()) f->spec.apps = parse_app_groups(ctx.tail);
    f->spec.debug = ctx.debug;
    Runtime& rt = ctx.runtime();
    if (!run_it) {
      std::cout << rt.create_pod(f->spec) << "\n";
      return;
    }
    rt.exec_new_pod(f->spec);  // does not return
  });
}

struct RunPreparedFlags {
  std::string uuid;
  std::string net, hostname, notify_ready;
  std::vector<std::string> dns, hosts;
  bool interactive = false;
};

void register_run_prepared(CLI::App& app, Context& ctx) {
  auto f = std::make_shared<RunPreparedFlags>();
  auto* c = app.add_subcommand("run-prepared", "Run a prepared pod");
  c->add_option("uuid", f->uuid, "Pod UUID or unique prefix")->required();
  auto* o_net = c->add_option("--net", f->net, "Networks: host, none, or NAME[:CNI_ARGS][,NAME…] of CNI networks");
  auto* o_host = c->add_option("--hostname", f->hostname, "Pod hostname");
  auto* o_dns = c->add_option("--dns", f->dns, "Name server (repeatable)");
  auto* o_hosts = c->add_option("--hosts-entry", f->hosts, "IP=HOSTNAME (repeatable)");
  auto* o_int = c->add_flag("--interactive", f->interactive, "Pass the terminal through to the app");
  auto* o_nr = c->add_option("--notify-ready", f->notify_ready, "none, started or app")
                   ->check(CLI::IsMember({"none", "started", "app"}));
  c->callback([&ctx, f, o_net, o_host, o_dns, o_hosts, o_int, o_nr] {
    StartOptions o;
    if (o_net->count()) {
      o.net = f->net;
      o.net_config_dirs = config::load(ctx.data_dir()).networks.config_dirs;  // networks are looked up as in prepare
    }
    if (o_host->count()) o.hostname = f->hostname;
    if (o_dns->count()) o.dns = f->dns;
    if (o_hosts->count()) {
      o.hosts.emplace();
      for (const auto& h : f->hosts) o.hosts->push_back(run::parse_hosts_entry(h));
    }
    if (o_int->count()) o.interactive = f->interactive;
    if (o_nr->count()) o.notify_ready = f->notify_ready;
    o.debug = ctx.debug;
    ctx.runtime().exec_pod(f->uuid, o);
  });
}
}  // namespace

void register_run(CLI::App& app, Context& ctx) {
  register_prepare_like(app, ctx, false);
  register_prepare_like(app, ctx, true);
  register_run_prepared(app, ctx);
}

}  // namespace pod::cli
