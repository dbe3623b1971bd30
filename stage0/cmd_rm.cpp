#include <iostream>

#include "context.hpp"
#include "pods/walk.hpp"
#include "util/error.hpp"

namespace pod::cli {

namespace {
struct RmOptions {
  std::vector<std::string> uuids;
  std::string uuid_file;
};

void run_rm(Context& ctx, const RmOptions& o) {
  if (o.uuids.empty() && o.uuid_file.empty()) throw usage_error("pod rm needs at least one UUID (or --uuid-file)");
  const Store& store = ctx.store();
  std::vector<std::string> args = o.uuids;
  if (!o.uuid_file.empty()) args.push_back(read_uuid_file(o.uuid_file));
  int failed_code = 0;
  for (const auto& a : args) {
    try {
      Pod p = lookup_pod(store, a);
      remove_pod(p, ctx.teardown(), [](const std::string& m) { std::cerr << "pod: " << m << "\n"; });
      std::cout << "\"" << p.uuid() << "\"\n";
    } catch (const Error& e) {
      std::cerr << "pod: " << e.what() << "\n";
      if (!failed_code) failed_code = e.exit_code();
    }
  }
  ctx.rc = failed_code;
}
}  // namespace

void register_rm(CLI::App& app, Context& ctx) {
  auto o = std::make_shared<RmOptions>();
  auto* c = app.add_subcommand("rm", "Remove pods that are not running");
  c->add_option("uuid", o->uuids, "Pod UUIDs or unique prefixes");
  c->add_option("--uuid-file", o->uuid_file, "Read the pod UUID from this file");
  c->callback([&ctx, o] { run_rm(ctx, *o); });
}

}  // namespace pod::cli
