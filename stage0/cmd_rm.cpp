#include <iostream>

#include "context.hpp"
#include "exitcodes.hpp"
#include "util/error.hpp"

namespace pod::cli {

namespace {
struct RmOptions {
  std::vector<std::string> uuids;
  std::string uuid_file;
};

void run_rm(Context& ctx, const RmOptions& o) {
  const auto args = uuids_from_args(o.uuids, o.uuid_file, "rm");
  Runtime& rt = ctx.runtime();
  int failed_code = 0;
  for (const auto& a : args) {
    try {
      const std::string uuid = rt.resolve_pod(a);
      rt.remove_pod(uuid);
      std::cout << "\"" << uuid << "\"\n";
    } catch (const Error& e) {
      std::cerr << "pod: " << e.what() << "\n";
      if (!failed_code) failed_code = exit_code_for(e);
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
