// The stage1 pod init's config parser (stage1/init/config.cpp,
// parse_config(manifest_json, runtime_json)). Input: the pod manifest, a NUL
// byte, then runtime.json (no NUL: runtime.json is empty, as when the file is
// missing). What it accepts must be what the JSON says: ids, modes and the
// stop timeout are not silently wrapped or rounded.
//
// Known findings (reported; stage1/init/config.cpp is being rewritten, fixes
// go there): init-volume-mode (a volume "mode" that is not octal: uncaught
// std::invalid_argument / std::out_of_range from stoul, or read only up to the
// first non-octal digit), init-gids (supplementaryGIDs and volume uid/gid
// outside 0..2^32-1 or not integers, wrapped or truncated by get<gid_t>),
// init-stop-timeout (stopTimeout beyond int, wrapped). A supplementaryGIDs
// entry that is a float beyond 2^32 (e.g. 1e40) is undefined behaviour in
// get<gid_t> (UBSan aborts); tolerating init-gids means not parsing those.
// fuzz-options: -max_len=16384
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
    FUZZ_CHECK_KNOWN(is_id(gids[i], app.supplementary_gids[i]), "init-gids",
                     "supplementaryGIDs " + gids[i].dump() + " read as " + std::to_string(app.supplementary_gids[i]));
  FUZZ_CHECK(!app.exec.empty() && !app.working_dir.empty() && app.working_dir[0] == '/', app.name);
  for (const auto& m : app.mounts) FUZZ_CHECK(!m.path.empty() && m.path[0] == '/', app.name + " mount " + m.path);
}

void check_volume(const json& v, const init::Volume& vol) {
  const json& mode = field(v, "mode");
  if (mode.is_string()) {
    const std::string s = mode.get<std::string>();
    const bool ok = !s.empty() && s.size() <= 4 && s.find_first_not_of("01234567") == std::string::npos;
    FUZZ_CHECK_KNOWN(ok && std::stoul(s, nullptr, 8) == vol.mode, "init-volume-mode",
                     "volume mode \"" + s + "\" read as " + octal(vol.mode));
  }
  for (const char* k : {"uid", "gid"}) {
    const json& id = field(v, k);
    const uint64_t got = std::strcmp(k, "uid") == 0 ? vol.uid : vol.gid;
    if (id.is_number_integer())
      FUZZ_CHECK_KNOWN(is_id(id, got), "init-gids", std::string("volume ") + k + " " + id.dump() + " read as " + std::to_string(got));
  }
}

void check(const std::string& manifest, const std::string& runtime, const init::PodConfig& cfg) {
  const json m = json::parse(manifest);
  for (size_t i = 0; i < cfg.apps.size(); ++i) check_app(m["apps"][i], cfg.apps[i]);
  for (size_t i = 0; i < cfg.volumes.size(); ++i) check_volume(m["volumes"][i], cfg.volumes[i]);
  if (runtime.empty()) return;
  const json r = json::parse(runtime);
  const json& t = field(r, "stopTimeout");
  if (t.is_number_integer())
    FUZZ_CHECK_KNOWN(t.is_number_unsigned() ? cfg.runtime.stop_timeout_s >= 0 && t.get<uint64_t>() == static_cast<uint64_t>(cfg.runtime.stop_timeout_s)
                                            : t.get<int64_t>() == cfg.runtime.stop_timeout_s,
                     "init-stop-timeout",
                     "stopTimeout " + t.dump() + " read as " + std::to_string(cfg.runtime.stop_timeout_s));
}

// A supplementaryGIDs entry that get<gid_t> cannot convert without undefined behaviour.
bool float_gids(const std::string& manifest) {
  const json m = json::parse(manifest, nullptr, false);
  const json& apps = field(m, "apps");
  if (!apps.is_array()) return false;
  for (const auto& a : apps) {
    const json& g = field(field(a, "app"), "supplementaryGIDs");
    if (g.is_array())
      for (const auto& x : g)
        if (x.is_number_float() && !(x.get<double>() > -1 && x.get<double>() < 4294967296.0)) return true;
  }
  return false;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto parts = podfuzz::split_at(podfuzz::as_string(data, size), '\0');
  const std::string &manifest = parts.first, &runtime = parts.second;
  if (float_gids(manifest) && podfuzz::known_finding("init-gids")) return 0;
  init::PodConfig cfg;
  bool parsed = false;
  try {
    podfuzz::known_exception("init-volume-mode", "stoul", [&] {
      cfg = init::parse_config(manifest, runtime);
      parsed = true;
    });
  } catch (const pod::Error&) {
    return 0;
  }
  if (parsed) check(manifest, runtime, cfg);
  return 0;
}
