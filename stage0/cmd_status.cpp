#include <time.h>

#include <iostream>

#include "context.hpp"
#include "pods/info.hpp"
#include "pods/walk.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"

namespace pod::cli {

namespace {
struct StatusOptions {
  std::string uuid;
  std::string uuid_file;
  std::string format = "text";
  std::string wait;        // "" = no wait; "forever" or a duration
  std::string wait_ready;
};

bool is_final(PodState s) {
  return s == PodState::Exited || s == PodState::ExitedGarbage || s == PodState::ExitedDeleting ||
         s == PodState::AbortedPrepare || s == PodState::Garbage || s == PodState::Deleting || s == PodState::Gone;
}

bool is_ready(const Pod& p, PodState s) {
  return s == PodState::Running && exists_at(p.fd(), podfile::kReady);
}

// Poll until pred holds or the deadline passes. Returns the last state.
template <class Pred>
PodState wait_for(const Pod& p, const std::string& spec, const char* flag, Pred pred) {
  std::optional<Clock::time_point> deadline;
  if (spec != "forever") {
    auto d = parse_duration(spec, flag);
    deadline = Clock::now() + d;
  }
  for (;;) {
    PodState s = p.state();
    if (pred(s)) return s;
    if (deadline && Clock::now() >= *deadline)
      throw Error(std::string("timed out waiting (") + flag + "); pod " + p.uuid() + " is " + state_name(s), ETIMEDOUT);
    struct timespec ts {0, 20 * 1000 * 1000};
    ::nanosleep(&ts, nullptr);
  }
}

void print_text(const PodInfo& i) {
  std::cout << "state=" << state_name(i.state) << "\n";
  if (i.created) std::cout << "created=" << format_time(*i.created) << "\n";
  if (i.started) std::cout << "started=" << format_time(*i.started) << "\n";
  if (i.pid) std::cout << "pid=" << *i.pid << "\n";
  bool ran = i.started.has_value();
  if (ran) std::cout << "exited=" << (i.state == PodState::Running ? "false" : "true") << "\n";
  for (const auto& a : i.apps)
    if (a.status) std::cout << "app-" << a.name << "=" << a.status->exit_code << "\n";
  if (!i.failure.empty()) std::cout << "failure=" << i.failure << "\n";
}

void run_status(Context& ctx, const StatusOptions& o) {
  Pod p = pod_from_args(ctx.store(), o.uuid, o.uuid_file);
  if (!o.wait_ready.empty()) wait_for(p, o.wait_ready, "--wait-ready", [&](PodState s) { return is_ready(p, s) || is_final(s); });
  if (!o.wait.empty()) wait_for(p, o.wait, "--wait", [](PodState s) { return is_final(s); });
  PodState s = p.state();
  PodInfo info = read_pod_info(p, s);
  if (o.format == "json" || o.format == "json-pretty")
    std::cout << (o.format == "json" ? to_json(info).dump() : to_json(info).dump(2)) << "\n";
  else
    print_text(info);
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
  c->callback([&ctx, o] { run_status(ctx, *o); });
}

}  // namespace pod::cli
