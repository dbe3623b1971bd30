#include <iostream>

#include "context.hpp"
#include "util/time.hpp"
#include "exitcodes.hpp"
#include "util/error.hpp"

namespace pod::cli {

namespace {
struct GcFlags {
  std::string grace = "30m";
  std::string expire_prepared = "24h";
  bool mark_only = false;
};

void run_gc(Context& ctx, const GcFlags& f) {
  GcOptions o;
  o.grace_period = parse_duration(f.grace, "--grace-period");
  o.expire_prepared = parse_duration(f.expire_prepared, "--expire-prepared");
  o.mark_only = f.mark_only;
  const GcReport r = ctx.runtime().gc(o);
  for (const auto& u : r.collected) std::cout << "collected \"" << u << "\"\n";
  if (!r.kept.empty() && ctx.debug)
    for (const auto& u : r.kept) std::cerr << "pod: " << u << " not removed: still within grace period\n";
  if (!r.failures.empty()) {
    std::cerr << "pod: gc could not collect " << r.failures.size() << " pod(s); they will be retried on the next run\n";
    ctx.rc = kExitError;
  }
}
}  // namespace

void register_gc(CLI::App& app, Context& ctx) {
  auto f = std::make_shared<GcFlags>();
  auto* c = app.add_subcommand("gc", "Mark exited pods as garbage and delete old garbage");
  c->add_option("--grace-period", f->grace, "How long exited pods stay listable before deletion")->capture_default_str();
  c->add_option("--expire-prepared", f->expire_prepared, "Delete prepared pods older than this")->capture_default_str();
  c->add_flag("--mark-only", f->mark_only, "Only move exited/aborted pods to garbage, delete nothing");
  c->callback([&ctx, f] { run_gc(ctx, *f); });
}

}  // namespace pod::cli
