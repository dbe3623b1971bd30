// The stage1 pod init's config parser (stage1/init/config.cpp,
// parse_config(manifest_json, runtime_json), which reads through the typed
// contract in src/contract/). Input: the pod manifest, a NUL byte, then
// runtime.json (no NUL: runtime.json is empty, as when the file is missing).
// What it accepts must be what the JSON says: ids, modes and the stop
// timeout are not wrapped, truncated or rounded.
// fuzz-options: -max_len=16384
#include <cstdio>
#include <cstring>

#include "fuzz.hpp"
#include "stage1/init/config.hpp"
#include "util/error.hpp"

using nlohmann::json;
namespace init = pod::init;

namespace {

std::string octal(unsigned v) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0%o", v);
  return buf;
}

bool is_id(const json& j, uint64_t got) {
  return j.is_number_unsigned() && j.get<uint64_t>() <= 0xffffffffu && j.get<uint64_t>() == got;
}

const json& field(const json& j, const char* key) {
  static const json null;
  return j.is_object() && j.contains(key) ? j[key] : null;
}

void check_app(const json& a, const init::App& app) {
  const json& gids = field(field(a, "app"), "supplementaryGIDs");
  for (size_t i = 0; i < app.supplementary_gids.size(); ++i)
    FUZZ_CHECK(is_id(gids[i], app.supplementary_gids[i]),
               "supplementaryGIDs " + gids[i].dump() + " read as " + std::to_string(app.supplementary_gids[i]));
  FUZZ_CHECK(!app.exec.empty() && !app.working_dir.empty() && app.working_dir[0] == '/', app.name);
  for (const auto& m : app.mounts) FUZZ_CHECK(!m.path.empty() && m.path[0] == '/', app.name + " mount " + m.path);
}

void check_volume(const json& v, const init::Volume& vol) {
  if (vol.kind != "empty") return;  // mode, uid and gid are those of an empty volume's dir
  const json& mode = field(v, "mode");
  if (mode.is_string()) {
    const std::string s = mode.get<std::string>();
    const bool ok = !s.empty() && s.size() <= 5 && s.find_first_not_of("01234567") == std::string::npos &&
                    std::stoul(s, nullptr, 8) <= 07777;
    FUZZ_CHECK(ok && std::stoul(s, nullptr, 8) == vol.mode, "volume mode \"" + s + "\" read as " + octal(vol.mode));
  }
  for (const char* k : {"uid", "gid"}) {
    const json& id = field(v, k);
    const uint64_t got = std::strcmp(k, "uid") == 0 ? vol.uid : vol.gid;
    if (!id.is_null())
      FUZZ_CHECK(is_id(id, got), std::string("volume ") + k + " " + id.dump() + " read as " + std::to_string(got));
  }
}

void check(const std::string& manifest, const std::string& runtime, const init::PodConfig& cfg) {
  const json m = json::parse(manifest);
  for (size_t i = 0; i < cfg.apps.size(); ++i) check_app(m["apps"][i], cfg.apps[i]);
  for (size_t i = 0; i < cfg.volumes.size(); ++i) check_volume(m["volumes"][i], cfg.volumes[i]);
  if (runtime.empty()) return;
  const json r = json::parse(runtime);
  const json& t = field(r, "stopTimeout");
  if (!t.is_null())
    FUZZ_CHECK(t.is_number_integer() && t.get<int64_t>() == cfg.runtime.stop_timeout_s,
               "stopTimeout " + t.dump() + " read as " + std::to_string(cfg.runtime.stop_timeout_s));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto [manifest, runtime] = podfuzz::split_at(podfuzz::as_string(data, size), '\0');
  init::PodConfig cfg;
  try {
    cfg = init::parse_config(manifest, runtime);
  } catch (const pod::Error&) {
    return 0;
  }
  check(manifest, runtime, cfg);
  return 0;
}
