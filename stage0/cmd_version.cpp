#include <iostream>

#include "config.h"
#include "context.hpp"
#include "pods/store.hpp"

namespace pod::cli {

void register_version(CLI::App& app, Context& ctx) {
  app.add_subcommand("version", "Print the pod version")->callback([&ctx] {
    std::cout << "pod version " << POD_VERSION << "\n";
    std::cout << "data dir: " << resolve_data_dir(ctx.dir_flag) << "\n";
  });
}

}  // namespace pod::cli
