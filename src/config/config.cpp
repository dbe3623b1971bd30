#include "config/config.hpp"

#include <cerrno>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <optional>

#include "stage1abi/options.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"

namespace pod::config {

using nlohmann::json;

namespace {

constexpr size_t kMaxConfigSize = 1 << 20;

[[noreturn]] void bad(const std::string& where, const std::string& msg) {
  throw Error("configuration " + where + ": " + msg, EINVAL, ErrorKind::Invalid);
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

uint64_t count_value(const json& v, const std::string& where, const std::string& key) {
  if (v.is_number_unsigned()) return v.get<uint64_t>();
  bad(where, key + " must be a non-negative integer");
}

}  // namespace

Config parse(const std::string& text, const std::string& where, Config c) {
  json j;
  try {
    j = json::parse(text);
  } catch (const json::exception& e) {
    bad(where, std::string("not valid JSON: ") + e.what());
  }
  if (!j.is_object()) bad(where, "must be a JSON object");
  only_keys(j, {"images"}, where, "");
  if (j.contains("images")) {
    const json& im = j["images"];
    if (!im.is_object()) bad(where, "images must be an object");
    only_keys(im, {"maxUncompressedSize", "maxEntries"}, where, "images.");
    if (im.contains("maxUncompressedSize")) {
      c.images.max_uncompressed = size_value(im["maxUncompressedSize"], where, "images.maxUncompressedSize");
      c.sources["images.maxUncompressedSize"] = where;
    }
    if (im.contains("maxEntries")) {
      c.images.max_entries = count_value(im["maxEntries"], where, "images.maxEntries");
      c.sources["images.maxEntries"] = where;
    }
  }
  c.path = where;
  c.files.push_back(where);
  return c;
}

namespace {
// One layer over c: the file's settings, or c unchanged when it does not exist (required: it must).
Config layer(Config c, const std::string& path, bool required, const char* why) {
  std::optional<std::string> text;
  try {
    text = read_file(path, kMaxConfigSize);
  } catch (const Error& e) {
    if (e.errnum() != ENOENT) throw e.with_context("cannot read configuration " + path);
    if (required) throw Error("configuration " + path + " (" + why + ") does not exist", ENOENT, ErrorKind::Invalid);
    return c;
  }
  return parse(*text, path, std::move(c));
}
}  // namespace

Config load(const std::string& data_dir) {
  const char* vendor = std::getenv("POD_VENDOR_CONFIG");
  const char* system = std::getenv("POD_CONFIG");
  Config c = layer({}, vendor && *vendor ? vendor : kVendorPath, vendor && *vendor, "$POD_VENDOR_CONFIG");
  c = layer(std::move(c), system && *system ? system : kDefaultPath, system && *system, "$POD_CONFIG");
  if (!data_dir.empty()) c = layer(std::move(c), data_dir + "/pod.json", false, "");
  return c;
}

}  // namespace pod::config
