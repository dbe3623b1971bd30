#include "config/config.hpp"

#include <cerrno>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <optional>

#include "isolators/isolators.hpp"
#include "net/cni/config.hpp"
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

// A string, or a number as its JSON text (limits: 100, 1.5).
std::string text_value(const json& v, const std::string& where, const std::string& key) {
  if (v.is_string() && !v.get<std::string>().empty()) return v.get<std::string>();
  if (v.is_number()) return v.dump();
  bad(where, key + " must be a non-empty string or a number");
}

// The values of --insecure-options (stage0's fetch and isolation parsers take the same).
constexpr const char* kInsecureValues[] = {"none", "image",  "http",    "tls",          "all-fetch", "all",
                                           "all-run", "isolators", "seccomp", "capabilities", "paths"};

std::vector<std::string> insecure_value(const json& v, const std::string& where, const std::string& key) {
  std::vector<std::string> items;
  if (v.is_string()) {
    const std::string s = v.get<std::string>();
    for (size_t i = 0; i <= s.size(); ) {
      size_t j = s.find(',', i);
      if (j == std::string::npos) j = s.size();
      items.push_back(s.substr(i, j - i));
      i = j + 1;
    }
  } else if (v.is_array()) {
    for (const auto& e : v) {
      if (!e.is_string()) bad(where, key + " must be a comma list or a list of strings");
      items.push_back(e.get<std::string>());
    }
  } else {
    bad(where, key + " must be a comma list or a list of strings");
  }
  std::vector<std::string> out;
  for (const auto& it : items) {
    bool known = false;
    for (const char* k : kInsecureValues) known = known || it == k;
    if (!known) {
      std::string list;
      for (const char* k : kInsecureValues) list += std::string(list.empty() ? "" : ", ") + k;
      bad(where, key + ": unknown value \"" + it + "\" (known: " + list + ")");
    }
    if (it != "none") out.push_back(it);
  }
  return out;
}

std::string net_value(const json& v, const std::string& where, const std::string& key) {
  const std::string s = name_value(v, where, key);
  try {
    (void)cni::parse_net_flag(s);
  } catch (const Error& e) {
    bad(where, key + " is not a --net value: " + e.what());
  }
  return s;
}

std::vector<std::string> dirs_value(const json& v, const std::string& where, const std::string& key) {
  if (!v.is_array()) bad(where, key + " must be a list of absolute paths");
  std::vector<std::string> out;
  for (size_t i = 0; i < v.size(); ++i) out.push_back(path_value(v[i], where, key + "[" + std::to_string(i) + "]"));
  return out;
}

// A limit as its flag parses it: the same text goes to the isolator parser when a pod is made.
auto limit_value(const char* flag) {
  return [flag](const json& v, const std::string& where, const std::string& key) -> std::optional<std::string> {
    const std::string s = text_value(v, where, key);
    try {
      (void)isolators::from_flag(flag, s);
    } catch (const Error& e) {
      bad(where, key + " is not a valid " + flag + ": " + e.what());
    }
    return s;
  };
}

// stage1.options: {"NAME": "VALUE"} or ["NAME=VALUE", …], entry by entry over what the earlier layers set.
void stage1_options(const json& v, const std::string& where, Config& c) {
  const std::string key = "stage1.options";
  std::vector<std::pair<std::string, std::string>> given;
  if (v.is_object()) {
    for (const auto& [k, e] : v.items()) {
      if (!e.is_string()) bad(where, key + "." + k + " must be a string (the --stage1-opt value)");
      given.emplace_back(k, e.get<std::string>());
    }
  } else if (v.is_array()) {
    for (const auto& e : v) {
      const std::string s = e.is_string() ? e.get<std::string>() : "";
      const auto eq = s.find('=');
      if (eq == std::string::npos || eq == 0) bad(where, key + " entries must be \"NAME=VALUE\" strings, as --stage1-opt");
      given.emplace_back(s.substr(0, eq), s.substr(eq + 1));
    }
  } else {
    bad(where, key + " must be an object {\"NAME\": \"VALUE\"} or a list of \"NAME=VALUE\"");
  }
  std::map<std::string, bool> seen;
  for (const auto& [k, val] : given) {
    if (k.empty()) bad(where, key + ": an option name cannot be empty");
    if (seen[k]) bad(where, key + "." + k + " is given twice");
    seen[k] = true;
    c.stage1.options[k] = val;
    c.sources[key + "." + k] = where;
  }
}

void stage1_images(const json& v, const std::string& where, Config& c) {
  const std::string key = "stage1.images";
  if (!v.is_object()) bad(where, key + " must be an object {\"FLAVOR\": \"/path/to/stage1.aci\"}");
  for (const auto& [flavor, e] : v.items()) {
    c.stage1.images[flavor] = path_value(e, where, key + "." + flavor);
    c.sources[key + "." + flavor] = where;
  }
}

}  // namespace

std::string Trust::insecure_list() const {
  std::string out;
  for (const auto& v : insecure_options) out += (out.empty() ? "" : ",") + v;
  return out;
}

Config parse(const std::string& text, const std::string& where, Config c, bool local) {
  json j;
  try {
    j = json::parse(text);
  } catch (const json::exception& e) {
    bad(where, std::string("not valid JSON: ") + e.what());
  }
  if (!j.is_object()) bad(where, "must be a JSON object");
  only_keys(j, {"images", "paths", "stage1", "auth", "networks", "trust", "limits"}, where, "");
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
  const json* s1 = section(j, "stage1", {"defaultFlavor", "options", "images"}, where);
  set(s1, "stage1", "defaultFlavor", c.stage1.default_flavor, name_value);
  if (s1 && s1->contains("options")) stage1_options((*s1)["options"], where, c);
  if (s1 && s1->contains("images")) stage1_images((*s1)["images"], where, c);
  set(section(j, "auth", {"registryAuthFile"}, where), "auth", "registryAuthFile", c.auth.registry_file, path_value);
  const json* net = section(j, "networks", {"default", "configDirs"}, where);
  set(net, "networks", "default", c.networks.default_net, net_value);
  set(net, "networks", "configDirs", c.networks.config_dirs, dirs_value);
  set(section(j, "trust", {"insecureOptions"}, where), "trust", "insecureOptions", c.trust.insecure_options,
      insecure_value);
  const json* lim = section(j, "limits", {"memory", "cpu", "pidsLimit"}, where);
  set(lim, "limits", "memory", c.limits.memory, limit_value("--memory"));
  set(lim, "limits", "cpu", c.limits.cpu, limit_value("--cpu"));
  set(lim, "limits", "pidsLimit", c.limits.pids_limit, limit_value("--pids-limit"));
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
