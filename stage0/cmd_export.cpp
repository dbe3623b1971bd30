// `pod export UUID [--app NAME] [--overwrite] FILE.aci`: an app of an exited
// pod, with the changes it made to its tree, as a new ACI (rkt export).
#include <iostream>

#include "context.hpp"

namespace pod::cli {

void register_export(CLI::App& app, Context& ctx) {
  struct Options {
    std::string uuid, app, out;
    bool overwrite = false;
  };
  auto o = std::make_shared<Options>();
  auto* c = app.add_subcommand("export", "Write an app of an exited pod, with its changes, as a new ACI");
  c->add_option("uuid", o->uuid, "Pod UUID or unique prefix")->required();
  c->add_option("file", o->out, "The ACI to write (FILE.aci)")->required();
  c->add_option("--app", o->app, "The app (default: the pod's only app)");
  c->add_flag("--overwrite", o->overwrite, "Replace FILE if it exists");
  c->callback([&ctx, o] { std::cout << ctx.runtime().export_app(o->uuid, o->app, o->out, o->overwrite) << "\n"; });
}

}  // namespace pod::cli
