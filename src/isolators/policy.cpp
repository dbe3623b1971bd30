#include "isolators/policy.hpp"

#include <algorithm>

#include "appc/image_manifest.hpp"
#include "isolators/isolators.hpp"
#include "util/error.hpp"
#include "util/split.hpp"

namespace pod::isolators {

std::vector<std::string> stage1_enforces(const nlohmann::json& stage1_manifest) {
  std::vector<std::string> out;
  for (auto& n : split(appc::manifest_annotation(stage1_manifest, kStage1Isolators).value_or(""), ','))
    if (!n.empty()) out.push_back(std::move(n));
  return out;
}

void check_pod(contract::PodManifest& m, const std::vector<std::string>& enforced, const std::string& stage1_name,
               bool insecure, const std::function<void(const std::string&)>& warn, bool strict) {
  for (auto& app : m.apps) {
    const std::string where = "app " + app.name;
    if (strict)
      for (const auto& iso : app.app.isolators)
        if (const std::string why = ignored_because(iso.name); !why.empty())
          throw invalid_error(where + ": isolator " + iso.name + ": " + why + ", which --strict-isolators refuses");
    std::vector<std::string> warnings;
    (void)parse(app.app.isolators, where, &warnings);
    for (const auto& w : warnings) warn(w);
    std::vector<contract::Isolator> kept;
    for (auto& iso : app.app.isolators) {
      const auto& known = known_names();
      const bool ours = std::find(known.begin(), known.end(), iso.name) != known.end();
      if ((ours || is_appc_unimplemented(iso.name)) &&
          std::find(enforced.begin(), enforced.end(), iso.name) == enforced.end()) {
        const std::string msg = where + ": isolator " + iso.name + " cannot be enforced by the stage1 " + stage1_name;
        if (!insecure) throw invalid_error(msg + " (--insecure-options=isolators runs the pod without it)");
        warn("warning: " + msg + "; running without it (--insecure-options=isolators)");
        continue;
      }
      kept.push_back(std::move(iso));
    }
    app.app.isolators = std::move(kept);
  }
}

std::string ignored_because(const std::string& name) {
  const auto& known = known_names();
  if (std::find(known.begin(), known.end(), name) != known.end()) return "";
  return is_appc_unimplemented(name) ? "not implemented" : "unknown isolator";
}

}  // namespace pod::isolators
