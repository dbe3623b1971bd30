#include "config/config.hpp"

#include <cerrno>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <optional>

#include "rootless/userns.hpp"
#include "stage1abi/options.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"

namespace pod::config {

using nlohmann::json;

namespace {

constexpr size_t kMaxConfigSize = 1 << 20;

[[noreturn]] void bad(const std::string& where, const std::string& msg) {
  throw Error("configuration " + where + ": " + msg, EINVAL, ErrorKind::Invalid).with_item(where);
}

// Refuses keys of `obj` outside `known`.
void only_keys(const json& obj, std::initializer_list<const char*> known, const std::string& where,
               const std::string& section) {
  for (const auto& [k, v] : obj.items()) {
    bool ok = false;
    for (const char* n : known) ok = ok || k == n;
    if (!ok) {
      std::string list;
      for (const char* n : known) list += std::string(list.empty() ? "" : ", ") + n;
      bad(where, "unknown key \"" + section + k + "\" (known: " + list + ")");
    }
  }
}

uint64_t size_value(const json& v, const std::string& where, const std::string& key) {
  if (v.is_number_unsigned()) return v.get<uint64_t>();
  if (v.is_string())
    if (auto n = stage1::parse_size(v.get<std::string>())) return *n;
  bad(where, key + " must be a size: bytes, or a string such as \"2G\" or \"512Mi\"");
}

std::string path_value(const json& v, const std::string& where, const std::string& key) {
  if (v.is_string() && !v.get<std::string>().empty() && v.get<std::string>()[0] == '/') return v.get<std::string>();
  bad(where, key + " must be an absolute path (a string starting with /)");
}

std::string name_value(const json& v, const std::string& where, const std::string& key) {
  if (v.is_string() && !v.get<std::string>().empty()) return v.get<std::string>();
  bad(where, key + " must be a non-empty string");
}

// The object `name` of j (absent: nullptr), its keys checked against `known`.
const json* section(const json& j, const char* name, std::initializer_list<const char*> known, const std::string& where) {
  if (!j.contains(name)) return nullptr;
  const json& s = j[name];
  if (!s.is_object()) bad(where, std::string(name) + " must be an object");
  only_keys(s, known, where, std::string(name) + ".");
  return &s;
}

uint64_t count_value(const json& v, const std::string& where, const std::string& key) {
  if (v.is_number_unsigned()) return v.get<uint64_t>();
  bad(where, key + " must be a non-negative integer");
}

}  // namespace

Config parse(const std::string& text, const std::string& where, Config c, bool local) {
  json j;
  try {
    j = json::parse(text);
  } catch (const json::exception& e) {
    bad(where, std::string("not valid JSON: ") + e.what());
  }
  if (!j.is_object()) bad(where, "must be a JSON object");
  only_keys(j, {"images", "paths", "stage1", "auth"}, where, "");
  auto set = [&](const json* sec, const char* sname, const char* key, auto& field, auto value_of) {
    if (!sec || !sec->contains(key)) return;
    const std::string full = std::string(sname) + "." + key;
    field = value_of((*sec)[key], where, full);
    c.sources[full] = where;
  };
  const json* im = section(j, "images", {"maxUncompressedSize", "maxEntries"}, where);
  set(im, "images", "maxUncompressedSize", c.images.max_uncompressed, size_value);
  set(im, "images", "maxEntries", c.images.max_entries, count_value);
  const json* paths = section(j, "paths", {"dataDir"}, where);
  if (local && paths && paths->contains("dataDir"))
    bad(where, "paths.dataDir cannot be set in the data dir's own pod.json (set it in /etc/pod/pod.json)");
  set(paths, "paths", "dataDir", c.paths.data_dir, path_value);
  set(section(j, "stage1", {"defaultFlavor"}, where), "stage1", "defaultFlavor", c.stage1.default_flavor, name_value);
  set(section(j, "auth", {"registryAuthFile"}, where), "auth", "registryAuthFile", c.auth.registry_file, path_value);
  c.path = where;
  c.files.push_back(where);
  return c;
}

namespace {
// One layer over c: the file's settings, or c unchanged when it does not exist (required: it must).
Config layer(Config c, const std::string& path, bool required, const char* why, bool local = false) {
  std::optional<std::string> text;
  try {
    text = read_file(path, kMaxConfigSize);
  } catch (const Error& e) {
    if (e.errnum() != ENOENT) throw e.with_context("cannot read configuration " + path).with_item(path);
    if (required)
      throw Error("configuration " + path + " (" + why + ") does not exist", ENOENT, ErrorKind::Invalid).with_item(path);
    return c;
  }
  return parse(*text, path, std::move(c), local);
}
}  // namespace

Config load(const std::string& data_dir) {
  const char* vendor = std::getenv("POD_VENDOR_CONFIG");
  const char* system = std::getenv("POD_CONFIG");
  Config c = layer({}, vendor && *vendor ? vendor : kVendorPath, vendor && *vendor, "$POD_VENDOR_CONFIG");
  // A rootless user's own file stands in for the system one (whose dataDir is root's).
  const std::string sys = system && *system ? system : rootless::active() ? rootless::config_dir() + "/pod.json" : kDefaultPath;
  c = layer(std::move(c), sys, system && *system, "$POD_CONFIG");
  if (!data_dir.empty()) c = layer(std::move(c), data_dir + "/pod.json", false, "", true);
  return c;
}

}  // namespace pod::config
