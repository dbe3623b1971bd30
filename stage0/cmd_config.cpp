// `pod config [--format=json|json-pretty]`: the merged configuration, each
// value with the file it came from (Documentation/configuration.md).
#include <iostream>
#include <nlohmann/json.hpp>

#include "config/config.hpp"
#include "context.hpp"
#include "pods/store.hpp"
#include "table.hpp"

namespace pod::cli {

namespace {
struct Setting {
  std::string key;
  nlohmann::json value;
};

std::vector<Setting> settings(const config::Config& c) {
  return {{"images.maxUncompressedSize", c.images.max_uncompressed}, {"images.maxEntries", c.images.max_entries}};
}
}  // namespace

void register_config(CLI::App& app, Context& ctx) {
  auto format = std::make_shared<std::string>("table");
  auto* c = app.add_subcommand("config", "Print the merged configuration and the file each value comes from");
  c->add_option("--format", *format, "Output format")->check(CLI::IsMember({"table", "json", "json-pretty"}));
  c->callback([&ctx, format] {
    const config::Config cfg = config::load(resolve_data_dir(ctx.dir_flag));
    auto source = [&](const std::string& key) {
      auto it = cfg.sources.find(key);
      return it == cfg.sources.end() ? std::string("default") : it->second;
    };
    if (*format == "table") {
      std::vector<std::vector<std::string>> rows;
      for (const auto& s : settings(cfg)) rows.push_back({s.key, s.value.dump(), source(s.key)});
      print_table(std::cout, {"KEY", "VALUE", "SOURCE"}, rows, true);
      return;
    }
    nlohmann::json j = {{"files", cfg.files}, {"settings", nlohmann::json::object()}};
    for (const auto& s : settings(cfg)) j["settings"][s.key] = {{"value", s.value}, {"source", source(s.key)}};
    std::cout << j.dump(*format == "json" ? -1 : 2) << "\n";
  });
}

}  // namespace pod::cli
