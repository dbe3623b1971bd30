#include "appc/image_manifest.hpp"

#include <set>

#include "appc/names.hpp"
#include "util/error.hpp"

namespace pod::appc {

using nlohmann::json;

namespace {

[[noreturn]] void bad(const std::string& field, const std::string& why) {
  throw Error("invalid image manifest: " + field + ": " + why +
              "; fix the image's manifest (see appc spec, Image Manifest Schema)");
}

std::string at(const std::string& base, size_t i) { return base + "[" + std::to_string(i) + "]"; }

const json& require(const json& obj, const std::string& base, const char* key) {
  if (!obj.contains(key)) bad(base.empty() ? key : base + "." + key, "is required");
  return obj.at(key);
}

std::string str(const json& v, const std::string& field, bool non_empty = false) {
  if (!v.is_string()) bad(field, "must be a string, got " + std::string(v.type_name()));
  std::string s = v.get<std::string>();
  if (non_empty && s.empty()) bad(field, "must not be empty");
  return s;
}

const json& array(const json& v, const std::string& field) {
  if (!v.is_array()) bad(field, "must be a list, got " + std::string(v.type_name()));
  return v;
}

const json& object(const json& v, const std::string& field) {
  if (!v.is_object()) bad(field, "must be an object, got " + std::string(v.type_name()));
  return v;
}

bool boolean(const json& v, const std::string& field) {
  if (!v.is_boolean()) bad(field, "must be true or false");
  return v.get<bool>();
}

uint64_t uint(const json& v, const std::string& field) {
  if (!v.is_number_unsigned() && !(v.is_number_integer() && v.get<int64_t>() >= 0))
    bad(field, "must be a non-negative integer");
  return v.get<uint64_t>();
}

std::string identifier(const json& v, const std::string& field) {
  std::string s = str(v, field);
  if (!is_ac_identifier(s))
    bad(field, "\"" + s + "\" is not an AC identifier (lowercase letters, digits and -._~/ between them)");
  return s;
}

std::string ac_name(const json& v, const std::string& field) {
  std::string s = str(v, field);
  if (!is_ac_name(s)) bad(field, "\"" + s + "\" is not an AC name (lowercase letters and digits, single dashes)");
  return s;
}

std::string abs_path(const json& v, const std::string& field) {
  std::string s = str(v, field, true);
  if (s[0] != '/') bad(field, "\"" + s + "\" must be an absolute path");
  return s;
}

// [{name, value}] with unique AC-identifier names; returns the pairs.
std::map<std::string, std::string> name_value_list(const json& v, const std::string& field, bool value_is_string) {
  std::map<std::string, std::string> out;
  array(v, field);
  for (size_t i = 0; i < v.size(); ++i) {
    const std::string f = at(field, i);
    object(v[i], f);
    std::string n = identifier(require(v[i], f, "name"), f + ".name");
    if (out.count(n)) bad(f + ".name", "duplicate name \"" + n + "\"");
    const json& val = require(v[i], f, "value");
    out[n] = value_is_string ? str(val, f + ".value") : val.dump();
  }
  return out;
}

void check_labels(const json& v, const std::string& field) {
  auto labels = name_value_list(v, field, true);
  if (labels.count("name")) bad(field, "the label \"name\" is not allowed (the image name is the name field)");
  auto os = labels.find("os");
  auto arch = labels.find("arch");
  if (arch != labels.end() && os == labels.end()) bad(field, "label arch needs an os label");
  if (os != labels.end()) {
    const std::string a = arch == labels.end() ? "" : arch->second;
    if (!valid_os_arch(os->second, a))
      bad(field, "unsupported os/arch \"" + os->second + (a.empty() ? "" : "/" + a) + "\"");
  }
}

void check_string_map(const json& v, const std::string& field) {
  object(v, field);
  for (const auto& [k, val] : v.items()) str(val, field + "." + k);
}

void check_app(const json& app) {
  const std::string b = "app";
  object(app, b);
  const json& exec = app.contains("exec") ? app.at("exec") : json::array();
  array(exec, b + ".exec");
  for (size_t i = 0; i < exec.size(); ++i) str(exec[i], at(b + ".exec", i));
  if (!exec.empty() && str(exec[0], b + ".exec[0]").empty()) bad(b + ".exec[0]", "must not be empty");
  str(require(app, b, "user"), b + ".user", true);
  str(require(app, b, "group"), b + ".group", true);
  if (app.contains("supplementaryGIDs")) {
    const json& g = array(app["supplementaryGIDs"], b + ".supplementaryGIDs");
    for (size_t i = 0; i < g.size(); ++i) uint(g[i], at(b + ".supplementaryGIDs", i));
  }
  if (app.contains("workingDirectory")) {
    const json& wd = app["workingDirectory"];
    if (!(wd.is_string() && wd.get<std::string>().empty())) abs_path(wd, b + ".workingDirectory");
  }
  if (app.contains("eventHandlers")) {
    const json& h = array(app["eventHandlers"], b + ".eventHandlers");
    std::set<std::string> seen;
    for (size_t i = 0; i < h.size(); ++i) {
      const std::string f = at(b + ".eventHandlers", i);
      object(h[i], f);
      std::string n = str(require(h[i], f, "name"), f + ".name");
      if (n != "pre-start" && n != "post-stop") bad(f + ".name", "\"" + n + "\" is not pre-start or post-stop");
      if (!seen.insert(n).second) bad(f + ".name", "more than one " + n + " handler");
      const json& e = array(require(h[i], f, "exec"), f + ".exec");
      if (e.empty()) bad(f + ".exec", "must not be empty");
      for (size_t j = 0; j < e.size(); ++j) str(e[j], at(f + ".exec", j));
    }
  }
  if (app.contains("environment")) {
    const json& env = array(app["environment"], b + ".environment");
    std::set<std::string> seen;
    for (size_t i = 0; i < env.size(); ++i) {
      const std::string f = at(b + ".environment", i);
      object(env[i], f);
      std::string n = str(require(env[i], f, "name"), f + ".name");
      if (!is_env_name(n)) bad(f + ".name", "\"" + n + "\" is not a valid environment variable name");
      if (!seen.insert(n).second) bad(f + ".name", "duplicate variable \"" + n + "\"");
      str(require(env[i], f, "value"), f + ".value");
    }
  }
  if (app.contains("isolators")) {
    const json& iso = array(app["isolators"], b + ".isolators");
    for (size_t i = 0; i < iso.size(); ++i) {
      const std::string f = at(b + ".isolators", i);
      object(iso[i], f);
      identifier(require(iso[i], f, "name"), f + ".name");
      require(iso[i], f, "value");
    }
  }
  if (app.contains("mountPoints")) {
    const json& mp = array(app["mountPoints"], b + ".mountPoints");
    std::set<std::string> seen;
    for (size_t i = 0; i < mp.size(); ++i) {
      const std::string f = at(b + ".mountPoints", i);
      object(mp[i], f);
      std::string n = ac_name(require(mp[i], f, "name"), f + ".name");
      if (!seen.insert(n).second) bad(f + ".name", "duplicate mount point \"" + n + "\"");
      str(require(mp[i], f, "path"), f + ".path", true);
      if (mp[i].contains("readOnly")) boolean(mp[i]["readOnly"], f + ".readOnly");
    }
  }
  if (app.contains("ports")) {
    const json& ports = array(app["ports"], b + ".ports");
    std::set<std::string> seen;
    for (size_t i = 0; i < ports.size(); ++i) {
      const std::string f = at(b + ".ports", i);
      object(ports[i], f);
      std::string n = ac_name(require(ports[i], f, "name"), f + ".name");
      if (!seen.insert(n).second) bad(f + ".name", "duplicate port \"" + n + "\"");
      str(require(ports[i], f, "protocol"), f + ".protocol", true);
      uint64_t port = uint(require(ports[i], f, "port"), f + ".port");
      if (port < 1 || port > 65535) bad(f + ".port", std::to_string(port) + " is outside 1..65535");
      uint64_t count = ports[i].contains("count") ? uint(ports[i]["count"], f + ".count") : 1;
      if (count < 1) bad(f + ".count", "must be at least 1");
      if (count > 65536 - port) bad(f + ".count", "port range ends beyond 65535");  // port + count - 1 can wrap
      if (ports[i].contains("socketActivated")) boolean(ports[i]["socketActivated"], f + ".socketActivated");
    }
  }
  if (app.contains("userAnnotations")) check_string_map(app["userAnnotations"], b + ".userAnnotations");
  if (app.contains("userLabels")) check_string_map(app["userLabels"], b + ".userLabels");
}

void check_annotations(const json& v) {
  auto ann = name_value_list(v, "annotations", true);
  if (auto c = ann.find("created"); c != ann.end()) {
    const std::string& t = c->second;
    if (t.size() < 20 || t[10] != 'T' || t[4] != '-' || t[7] != '-')
      bad("annotations.created", "\"" + t + "\" is not an RFC3339 date-time (e.g. 2026-01-02T15:04:05Z)");
  }
  for (const char* k : {"homepage", "documentation"}) {
    if (auto u = ann.find(k); u != ann.end() && u->second.rfind("http://", 0) != 0 && u->second.rfind("https://", 0) != 0)
      bad(std::string("annotations.") + k, "\"" + u->second + "\" is not an http(s) URL");
  }
  if (auto n = ann.find("appc.io/executor/supports-systemd-notify");
      n != ann.end() && n->second != "true" && n->second != "false")
    bad("annotations.appc.io/executor/supports-systemd-notify", "must be \"true\" or \"false\"");
}

void check_dependencies(const json& v) {
  array(v, "dependencies");
  for (size_t i = 0; i < v.size(); ++i) {
    const std::string f = at("dependencies", i);
    object(v[i], f);
    identifier(require(v[i], f, "imageName"), f + ".imageName");
    if (v[i].contains("imageID")) {
      std::string id = str(v[i]["imageID"], f + ".imageID");
      if (id.rfind("sha512-", 0) != 0 || id.size() < 7 + 8 ||
          id.find_first_not_of("0123456789abcdef", 7) != std::string::npos)
        bad(f + ".imageID", "\"" + id + "\" is not sha512-<lowercase hex>");
    }
    if (v[i].contains("labels")) check_labels(v[i]["labels"], f + ".labels");
    if (v[i].contains("size")) uint(v[i]["size"], f + ".size");
  }
}

}  // namespace

bool valid_os_arch(const std::string& os, const std::string& arch) {
  static const std::map<std::string, std::set<std::string>> allowed = {
      {"linux", {"amd64", "i386", "aarch64", "aarch64_be", "armv6l", "armv7l", "armv7b", "ppc64", "ppc64le", "s390x"}},
      {"freebsd", {"amd64", "i386", "arm"}},
      {"darwin", {"x86_64", "i386"}},
  };
  auto it = allowed.find(os);
  if (it == allowed.end()) return false;
  return arch.empty() || it->second.count(arch) > 0;
}

void validate_image_manifest(const json& m) {
  if (!m.is_object()) bad("(top level)", "must be a JSON object");
  std::string kind = str(require(m, "", "acKind"), "acKind");
  if (!is_ac_kind(kind)) bad("acKind", "\"" + kind + "\" is not alphanumeric");
  if (kind != kImageManifestKind) bad("acKind", "is \"" + kind + "\", expected \"ImageManifest\"");
  std::string ver = str(require(m, "", "acVersion"), "acVersion");
  auto sv = parse_semver(ver);
  if (!sv) bad("acVersion", "\"" + ver + "\" is not a semantic version (e.g. 0.8.11)");
  if (sv->major != kSupportedMajor)
    bad("acVersion", ver + " is not in the supported 0.x series");
  identifier(require(m, "", "name"), "name");
  if (m.contains("labels")) check_labels(m["labels"], "labels");
  if (m.contains("app") && !m["app"].is_null()) check_app(m["app"]);
  if (m.contains("dependencies")) check_dependencies(m["dependencies"]);
  if (m.contains("pathWhitelist")) {
    const json& w = array(m["pathWhitelist"], "pathWhitelist");
    for (size_t i = 0; i < w.size(); ++i) abs_path(w[i], at("pathWhitelist", i));
  }
  if (m.contains("annotations")) check_annotations(m["annotations"]);
}

json parse_image_manifest(const std::string& text) {
  if (text.size() > kMaxManifestSize)
    throw Error("image manifest is " + std::to_string(text.size()) + " bytes, more than the limit of " +
                std::to_string(kMaxManifestSize));
  json m;
  try {
    m = json::parse(text);
  } catch (const json::exception& e) {
    throw Error(std::string("invalid image manifest: not valid JSON: ") + e.what());
  }
  validate_image_manifest(m);
  return m;
}

std::string manifest_name(const json& m) { return m.at("name").get<std::string>(); }

std::map<std::string, std::string> manifest_labels(const json& m) {
  std::map<std::string, std::string> out;
  if (m.contains("labels"))
    for (const auto& l : m["labels"]) out[l["name"].get<std::string>()] = l["value"].get<std::string>();
  return out;
}

std::vector<Dependency> manifest_dependencies(const json& m) {
  std::vector<Dependency> out;
  if (!m.contains("dependencies")) return out;
  for (const auto& d : m["dependencies"]) {
    Dependency dep;
    dep.image_name = d["imageName"].get<std::string>();
    if (d.contains("imageID")) dep.image_id = d["imageID"].get<std::string>();
    if (d.contains("labels"))
      for (const auto& l : d["labels"]) dep.labels[l["name"].get<std::string>()] = l["value"].get<std::string>();
    if (d.contains("size")) dep.size = d["size"].get<uint64_t>();
    out.push_back(std::move(dep));
  }
  return out;
}

std::vector<std::string> manifest_path_whitelist(const json& m) {
  std::vector<std::string> out;
  if (!m.contains("pathWhitelist")) return out;
  for (const auto& p : m["pathWhitelist"]) {
    std::string s = p.get<std::string>();
    // Clean: drop empty and "." components, resolve ".." lexically.
    std::vector<std::string> parts;
    size_t i = 0;
    while (i <= s.size()) {
      size_t j = s.find('/', i);
      if (j == std::string::npos) j = s.size();
      std::string c = s.substr(i, j - i);
      if (c == "..") {
        if (!parts.empty()) parts.pop_back();
      } else if (!c.empty() && c != ".") {
        parts.push_back(c);
      }
      i = j + 1;
    }
    std::string rel;
    for (const auto& c : parts) rel += (rel.empty() ? "" : "/") + c;
    if (!rel.empty()) out.push_back(rel);
  }
  return out;
}

std::optional<std::string> manifest_annotation(const nlohmann::json& m, const char* name) {
  if (!m.is_object() || !m.contains("annotations") || !m["annotations"].is_array()) return std::nullopt;
  for (const auto& a : m["annotations"])
    if (a.is_object() && a.value("name", "") == name && a.contains("value") && a["value"].is_string())
      return a["value"].get<std::string>();
  return std::nullopt;
}

}  // namespace pod::appc
