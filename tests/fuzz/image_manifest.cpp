// appc image manifest parser and validator (src/appc/image_manifest.cpp).
// Input: the manifest text. A manifest that validates must also satisfy what
// the store assumes of it (accessors do not throw, whitelist entries are
// clean relative paths, port ranges stay in 1..65535) and must validate again
// after a dump (validation depends on the value, not on its spelling).
// fuzz-options: -max_len=16384
#include <nlohmann/json.hpp>

#include "appc/image_manifest.hpp"
#include "fuzz.hpp"
#include "util/error.hpp"

using nlohmann::json;
namespace appc = pod::appc;

namespace {

void check_accepted(const json& m) {
  (void)appc::manifest_name(m);
  (void)appc::manifest_labels(m);
  (void)appc::manifest_dependencies(m);
  for (const auto& p : appc::manifest_path_whitelist(m)) {
    const std::string slashed = "/" + p + "/";
    FUZZ_CHECK(!p.empty() && p[0] != '/' && slashed.find("//") == std::string::npos &&
                   slashed.find("/./") == std::string::npos && slashed.find("/../") == std::string::npos,
               "pathWhitelist entry \"" + p + "\" is not a clean relative path");
  }
  if (m.contains("app") && m["app"].is_object() && m["app"].contains("ports")) {
    for (const auto& p : m["app"]["ports"]) {
      const uint64_t port = p["port"].get<uint64_t>();
      const uint64_t count = p.contains("count") ? p["count"].get<uint64_t>() : 1;
      FUZZ_CHECK(port >= 1 && port <= 65535 && count >= 1 && count <= 65536 - port,
                 "port " + std::to_string(port) + " count " + std::to_string(count) + " accepted");
    }
  }
  const std::string again = m.dump();
  if (again.size() > appc::kMaxManifestSize) return;  // a dump can be longer (1e2 -> 100.0)
  try {
    appc::parse_image_manifest(again);
  } catch (const pod::Error& e) {
    FUZZ_CHECK(false, std::string("the dump of an accepted manifest is refused: ") + e.what());
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  json m;
  try {
    m = appc::parse_image_manifest(podfuzz::as_string(data, size));
  } catch (const pod::Error&) {
    return 0;
  }
  check_accepted(m);
  return 0;
}
