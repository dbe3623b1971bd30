// pod enter / stop / cat-manifest / logs: commands on an existing pod that go
// through its stage1 entrypoints or its files.
#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#include <iostream>
#include <nlohmann/json.hpp>

#include "context.hpp"
#include "pods/info.hpp"
#include "pods/walk.hpp"
#include "stage1abi/stage1.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"
#include "util/time.hpp"

namespace pod::cli {

namespace {
std::vector<std::string> app_names(const Pod& pod) {
  std::vector<std::string> out;
  for (const auto& a : read_pod_info(pod, pod.state()).apps) out.push_back(a.name);
  return out;
}

std::string pick_app(const Pod& pod, const std::string& wanted) {
  auto names = app_names(pod);
  if (!wanted.empty()) {
    if (std::find(names.begin(), names.end(), wanted) == names.end())
      throw usage_error("pod " + pod.uuid() + " has no app named \"" + wanted + "\"");
    return wanted;
  }
  if (names.size() != 1) throw usage_error("pod " + pod.uuid() + " has several apps; choose one with --app");
  return names.front();
}

struct EnterFlags {
  std::string app, uuid;
  std::vector<std::string> cmd;
};

void run_enter(Context& ctx, const EnterFlags& f) {
  Pod pod = lookup_pod(ctx.store(), f.uuid);
  // The pid file appears shortly after start; wait a little for it.
  for (int i = 0; i < 100 && !exists_at(pod.fd(), podfile::kPid); ++i) {
    if (pod.state() != PodState::Running) break;
    struct timespec ts {0, 20 * 1000 * 1000};
    ::nanosleep(&ts, nullptr);
  }
  if (PodState s = pod.state(); s != PodState::Running)
    throw Error("cannot enter pod " + pod.uuid() + ": it is " + state_name(s), EINVAL, kExitBusy);
  auto eps = stage1::pod_entrypoints(pod);
  if (eps.enter.empty()) throw Error("this pod's stage1 has no enter entrypoint");
  std::vector<std::string> args;
  if (ctx.debug) args.push_back("--debug");
  args.push_back("--app=" + pick_app(pod, f.app));
  if (::isatty(0) && ::isatty(1)) args.push_back("--tty");
  args.push_back(pod.uuid());
  args.push_back("--");
  if (f.cmd.empty()) args.push_back("/bin/sh");
  for (const auto& c : f.cmd) args.push_back(c);
  stage1::exec(pod, eps.enter, args, {"POD_STAGE1_ABI=1"});
}

struct StopFlags {
  std::vector<std::string> uuids;
  std::string uuid_file;
  bool force = false;
  std::string timeout = "30s";
};

void run_stop(Context& ctx, const StopFlags& f) {
  std::vector<std::string> args = f.uuids;
  if (!f.uuid_file.empty()) args.push_back(read_uuid_file(f.uuid_file));
  if (args.empty()) throw usage_error("pod stop needs at least one UUID (or --uuid-file)");
  const auto timeout = parse_duration(f.timeout, "--timeout");
  int rc = 0;
  for (const auto& a : args) {
    try {
      Pod pod = lookup_pod(ctx.store(), a);
      PodState s = pod.state();
      if (s == PodState::Exited || s == PodState::ExitedGarbage || s == PodState::ExitedDeleting) {
        std::cerr << "pod: pod " << pod.uuid() << " is already stopped\n";
        std::cout << "\"" << pod.uuid() << "\"\n";
        continue;
      }
      if (s != PodState::Running)
        throw Error("cannot stop pod " + pod.uuid() + ": it is " + state_name(s), EINVAL, kExitBusy);
      auto eps = stage1::pod_entrypoints(pod);
      if (eps.stop.empty()) throw Error("this pod's stage1 has no stop entrypoint");
      std::vector<std::string> sargs;
      if (f.force) sargs.push_back("--force");
      sargs.push_back(pod.uuid());
      int st = stage1::call(pod, eps.stop, sargs);
      if (st != 0) throw Error("stage1 stop of pod " + pod.uuid() + " failed with status " + std::to_string(st));
      const auto deadline = Clock::now() + timeout;
      while (pod.state() == PodState::Running) {
        if (Clock::now() >= deadline)
          throw Error("pod " + pod.uuid() + " is still running after " + f.timeout + "; try pod stop --force");
        struct timespec ts {0, 10 * 1000 * 1000};
        ::nanosleep(&ts, nullptr);
      }
      std::cout << "\"" << pod.uuid() << "\"\n";
    } catch (const Error& e) {
      std::cerr << "pod: " << e.what() << "\n";
      if (!rc) rc = e.exit_code();
    }
  }
  ctx.rc = rc;
}

struct LogsFlags {
  std::string uuid, app;
};

void run_logs(Context& ctx, const LogsFlags& f) {
  Pod pod = lookup_pod(ctx.store(), f.uuid);
  auto names = f.app.empty() ? app_names(pod) : std::vector<std::string>{pick_app(pod, f.app)};
  for (const auto& n : names) {
    auto text = try_read_file_at(pod.fd(), "logs/" + n + ".log", size_t(1) << 30);
    if (names.size() > 1) std::cout << "==> " << n << " <==\n";
    if (text) std::cout << *text;
  }
}
}  // namespace

void register_pod_ops(CLI::App& app, Context& ctx) {
  auto ef = std::make_shared<EnterFlags>();
  auto* e = app.add_subcommand("enter", "Run a command inside a running pod: pod enter [--app NAME] UUID [CMD...]");
  e->add_option("--app", ef->app, "App whose root and environment to use");
  e->add_option("uuid", ef->uuid, "Pod UUID or unique prefix")->required();
  e->callback([&ctx, ef] {
    ef->cmd = ctx.tail;
    if (!ef->cmd.empty() && ef->cmd.front() == "--") ef->cmd.erase(ef->cmd.begin());
    run_enter(ctx, *ef);
  });

  auto sf = std::make_shared<StopFlags>();
  auto* s = app.add_subcommand("stop", "Stop running pods (SIGTERM to the apps, SIGKILL after a timeout)");
  s->add_option("uuid", sf->uuids, "Pod UUIDs or unique prefixes");
  s->add_option("--uuid-file", sf->uuid_file, "Read the pod UUID from this file");
  s->add_flag("--force", sf->force, "Kill at once");
  s->add_option("--timeout", sf->timeout, "How long to wait for the pod to exit")->capture_default_str();
  s->callback([&ctx, sf] { run_stop(ctx, *sf); });

  auto cm = std::make_shared<std::string>();
  auto* m = app.add_subcommand("cat-manifest", "Print a pod's manifest");
  m->add_option("uuid", *cm, "Pod UUID or unique prefix")->required();
  m->callback([&ctx, cm] {
    Pod pod = lookup_pod(ctx.store(), *cm);
    auto text = try_read_file_at(pod.fd(), podfile::kManifest, 16 << 20);
    if (!text) throw Error("pod " + pod.uuid() + " has no manifest yet");
    auto j = nlohmann::json::parse(*text, nullptr, false);
    std::cout << (j.is_discarded() ? *text : j.dump(2) + "\n");
  });

  auto lf = std::make_shared<LogsFlags>();
  auto* l = app.add_subcommand("logs", "Print the output of a pod's apps");
  l->add_option("uuid", lf->uuid, "Pod UUID or unique prefix")->required();
  l->add_option("--app", lf->app, "Only this app");
  l->callback([&ctx, lf] { run_logs(ctx, *lf); });
}

}  // namespace pod::cli
