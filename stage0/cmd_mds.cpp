// `pod metadata-service [--listen ADDR]...`: the appc metadata service for the
// pods of the data dir that were registered with --mds-register
// (Documentation/metadata-service.md). Runs until SIGTERM/SIGINT.
#include <iostream>

#include "context.hpp"

namespace pod::cli {

void register_metadata_service(CLI::App& app, Context& ctx) {
  auto listen = std::make_shared<std::vector<std::string>>();
  auto* c = app.add_subcommand("metadata-service", "Serve the appc metadata service to registered pods");
  c->add_option("--listen", *listen,
                "tcp://IPV4:PORT or unix:PATH (repeatable; default tcp://127.0.0.1:18112 unless systemd passes "
                "sockets)");
  c->callback([&ctx, listen] {
    ctx.runtime().serve_metadata(*listen, [](const std::string& addr) {
      std::cerr << "pod: metadata service listening on " << addr << "\n";
    });
  });
}

}  // namespace pod::cli
