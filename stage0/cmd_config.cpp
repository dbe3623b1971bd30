// `pod config [--format=json|json-pretty]`: the merged configuration, each
// value with the file it came from (Documentation/configuration.md).
#include <iostream>
#include <nlohmann/json.hpp>

#include <cstdlib>

#include "config/config.hpp"
#include "stage1abi/flavors.hpp"
#include "util/error.hpp"
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
  return {{"images.maxUncompressedSize", c.images.max_uncompressed},
          {"images.maxEntries", c.images.max_entries},
          {"paths.dataDir", c.paths.data_dir},
          {"stage1.defaultFlavor", c.stage1.default_flavor},
          {"auth.registryAuthFile", c.auth.registry_file}};
}
}  // namespace

void apply_stage1_config(PodSpec& s, const std::string& data_dir) {
  const Stage1Spec& sel = s.stage1;
  if (!sel.path.empty() || !sel.name.empty() || !sel.hash.empty() || !sel.flavor.empty()) return;
  for (const char* env : {"POD_STAGE1_PATH", "POD_STAGE1_FLAVOR"})
    if (const char* v = std::getenv(env); v && *v) return;
  const config::Config cfg = config::load(data_dir);
  const std::string& want = cfg.stage1.default_flavor;
  if (want.empty()) return;
  const stage1::FlavorConfig known = stage1::load_flavor_config();
  if (!known.images.count(want)) {
    std::string list;
    for (const auto& [name, _] : known.images) list += (list.empty() ? "" : ", ") + name;
    const std::string file = cfg.sources.at("stage1.defaultFlavor");
    throw Error("configuration " + file + ": stage1.defaultFlavor \"" + want + "\" is not a flavour of stage1.json (known: " +
                    list + ")",
                EINVAL, ErrorKind::Invalid)
        .with_item(file);
  }
  s.stage1.flavor = want;
}

void register_config(CLI::App& app, Context& ctx) {
  auto format = std::make_shared<std::string>("table");
  auto* c = app.add_subcommand("config", "Print the merged configuration and the file each value comes from");
  c->add_option("--format", *format, "Output format")->check(CLI::IsMember({"table", "json", "json-pretty"}));
  c->callback([&ctx, format] {
    const config::Config cfg = config::load(ctx.data_dir());
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
