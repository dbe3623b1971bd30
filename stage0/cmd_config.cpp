// `pod config [--format=json|json-pretty]`: the merged configuration, each
// value with the file it came from (Documentation/configuration.md).
#include <iostream>
#include <nlohmann/json.hpp>

#include <sys/stat.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "appflags.hpp"
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

// A map section: one row per entry ("stage1.options.NAME"), or the empty object as the default.
void add_map(std::vector<Setting>& out, const std::string& key, const std::map<std::string, std::string>& m) {
  if (m.empty()) out.push_back({key, nlohmann::json::object()});
  for (const auto& [k, v] : m) out.push_back({key + "." + k, v});
}

nlohmann::json optional_value(const std::optional<std::string>& v) { return v ? nlohmann::json(*v) : nlohmann::json(); }

std::vector<Setting> settings(const config::Config& c) {
  std::vector<Setting> out = {{"images.maxUncompressedSize", c.images.max_uncompressed},
                              {"images.maxEntries", c.images.max_entries},
                              {"paths.dataDir", c.paths.data_dir},
                              {"stage1.defaultFlavor", c.stage1.default_flavor}};
  add_map(out, "stage1.options", c.stage1.options);
  add_map(out, "stage1.images", c.stage1.images);
  out.push_back({"auth.registryAuthFile", c.auth.registry_file});
  out.push_back({"networks.default", c.networks.default_net});
  out.push_back({"networks.configDirs", c.networks.config_dirs});
  out.push_back({"trust.insecureOptions", c.trust.insecure_list()});
  out.push_back({"limits.memory", optional_value(c.limits.memory)});
  out.push_back({"limits.cpu", optional_value(c.limits.cpu)});
  out.push_back({"limits.pidsLimit", optional_value(c.limits.pids_limit)});
  return out;
}

[[noreturn]] void bad_setting(const config::Config& cfg, const std::string& key, const std::string& msg) {
  const std::string file = cfg.sources.at(key);
  throw Error("configuration " + file + ": " + key + " " + msg, EINVAL, ErrorKind::Invalid).with_item(file);
}

// Every flavour named in the configuration must be one of stage1.json's, and each stage1.images file exist.
void check_flavors(const config::Config& cfg) {
  if (cfg.stage1.default_flavor.empty() && cfg.stage1.images.empty()) return;
  const stage1::FlavorConfig known = stage1::load_flavor_config();
  std::string list;
  for (const auto& [name, _] : known.images) list += (list.empty() ? "" : ", ") + name;
  auto check = [&](const std::string& key, const std::string& flavor) {
    if (!known.images.count(flavor))
      bad_setting(cfg, key, "\"" + flavor + "\" is not a flavour of stage1.json (known: " + list + ")");
  };
  if (!cfg.stage1.default_flavor.empty()) check("stage1.defaultFlavor", cfg.stage1.default_flavor);
  for (const auto& [flavor, path] : cfg.stage1.images) {
    const std::string key = "stage1.images." + flavor;
    check(key, flavor);
    struct stat st;
    if (::stat(path.c_str(), &st) != 0) bad_setting(cfg, key, path + ": " + std::strerror(errno));
    if (!S_ISREG(st.st_mode)) bad_setting(cfg, key, path + " is not a regular file (a stage1 .aci)");
  }
}
}  // namespace

void apply_pod_config(PodSpec& s, const config::Config& cfg) {
  check_flavors(cfg);
  Stage1Spec& sel = s.stage1;
  const bool chosen = !sel.path.empty() || !sel.name.empty() || !sel.hash.empty() || !sel.flavor.empty() ||
                      [] {
                        for (const char* env : {"POD_STAGE1_PATH", "POD_STAGE1_FLAVOR"})
                          if (const char* v = std::getenv(env); v && *v) return true;
                        return false;
                      }();
  if (!chosen && !cfg.stage1.default_flavor.empty()) sel.flavor = cfg.stage1.default_flavor;
  sel.flavor_images = cfg.stage1.images;
  for (const auto& [k, v] : cfg.stage1.options) sel.options.emplace(k, v);  // --stage1-opt NAME wins
  if (s.net.empty()) s.net = cfg.networks.default_net;
  s.net_config_dirs = cfg.networks.config_dirs;
  s.isolator_defaults.memory = cfg.limits.memory;
  s.isolator_defaults.cpu = cfg.limits.cpu;
  s.isolator_defaults.pids_limit = cfg.limits.pids_limit;
}

std::string insecure_or_config(const std::string& flag, const config::Config& cfg, bool fetch_only) {
  if (!flag.empty() || cfg.trust.insecure_options.empty()) return flag;
  std::string list = cfg.trust.insecure_list();
  if (fetch_only) {
    std::vector<std::string> pods_only;
    const auto fetch = split_isolation_insecure(list, pods_only);
    list.clear();
    for (const auto& v : fetch) list += (list.empty() ? "" : ",") + v;
    if (list.empty()) return "";  // nothing relaxed for a fetch: no warning
  }
  std::cerr << "pod: warning: --insecure-options=" << list << " from trust.insecureOptions in "
            << cfg.sources.at("trust.insecureOptions") << " (no --insecure-options given): protections are off\n";
  return list;
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
