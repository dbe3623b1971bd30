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

Config parse(const std::string& text, const std::string& where) {
  json j;
  try {
    j = json::parse(text);
  } catch (const json::exception& e) {
    bad(where, std::string("not valid JSON: ") + e.what());
  }
  if (!j.is_object()) bad(where, "must be a JSON object");
  only_keys(j, {"images"}, where, "");
  Config c;
  if (j.contains("images")) {
    const json& im = j["images"];
    if (!im.is_object()) bad(where, "images must be an object");
    only_keys(im, {"maxUncompressedSize", "maxEntries"}, where, "images.");
    if (im.contains("maxUncompressedSize"))
      c.images.max_uncompressed = size_value(im["maxUncompressedSize"], where, "images.maxUncompressedSize");
    if (im.contains("maxEntries")) c.images.max_entries = count_value(im["maxEntries"], where, "images.maxEntries");
  }
  return c;
}

Config load() {
  const char* env = std::getenv("POD_CONFIG");
  const std::string path = env && *env ? env : kDefaultPath;
  std::optional<std::string> text;
  try {
    text = read_file(path, kMaxConfigSize);
  } catch (const Error& e) {
    if (e.errnum() != ENOENT) throw e.with_context("cannot read configuration " + path);
    if (env && *env) throw Error("configuration " + path + " ($POD_CONFIG) does not exist", ENOENT, ErrorKind::Invalid);
    return {};
  }
  Config c = parse(*text, path);
  c.path = path;
  return c;
}

}  // namespace pod::config
