// What stage0 checks at prepare time about the apps' isolators: valid values,
// and that the chosen stage1 enforces every one (Documentation/isolation.md).
#pragma once
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "contract/manifest.hpp"

namespace pod::isolators {

// The stage1 image annotation listing the isolator names it enforces (comma list).
inline constexpr const char* kStage1Isolators = "pod/stage1/isolators";

std::vector<std::string> stage1_enforces(const nlohmann::json& stage1_manifest);

// Validates every app's isolators (errors name the app and the isolator);
// unknown names warn; a known or appc name not in `enforced` fails unless
// `insecure`: then it warns and is taken out of the manifest, which keeps the
// set the pod really runs with. `warn` gets each warning line. `strict`
// (--strict-isolators): an isolator pod ignores (unknown, or an appc one no
// stage1 here implements) fails instead of warning.
void check_pod(contract::PodManifest& m, const std::vector<std::string>& enforced, const std::string& stage1_name,
               bool insecure, const std::function<void(const std::string&)>& warn, bool strict = false);

// Why pod does not apply the isolator `name` ("unknown isolator", "not
// implemented"), or "" when it does (it is enforced).
std::string ignored_because(const std::string& name);

}  // namespace pod::isolators
