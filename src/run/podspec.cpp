#include "run/podspec.hpp"

#include <fcntl.h>

#include <cstdlib>
#include <fstream>
#include <map>
#include <regex>
#include <set>

#include "util/error.hpp"
#include "util/fs.hpp"

extern char** environ;

namespace pod::run {

namespace {
std::map<std::string, std::string> kv_list(const std::string& s, const std::string& what, bool first_is_name,
                                           std::string* name) {
  std::map<std::string, std::string> out;
  size_t i = 0;
  bool first = true;
  while (i <= s.size()) {
    size_t j = s.find(',', i);
    if (j == std::string::npos) j = s.size();
    std::string part = s.substr(i, j - i);
    i = j + 1;
    if (first && first_is_name && part.find('=') == std::string::npos) {
      *name = part;
      first = false;
      continue;
    }
    first = false;
    auto eq = part.find('=');
    if (eq == std::string::npos || eq == 0) throw usage_error(what + ": \"" + part + "\" is not key=value");
    std::string k = part.substr(0, eq);
    if (out.count(k)) throw usage_error(what + ": \"" + k + "\" given twice");
    out[k] = part.substr(eq + 1);
  }
  return out;
}

bool parse_bool(const std::string& v, const std::string& what) {
  if (v == "true" || v == "1" || v == "yes") return true;
  if (v == "false" || v == "0" || v == "no") return false;
  throw usage_error(what + ": \"" + v + "\" is not true or false");
}

unsigned parse_uint(const std::string& v, const std::string& what) {
  if (v.empty() || v.find_first_not_of("0123456789") != std::string::npos)
    throw usage_error(what + ": \"" + v + "\" is not a non-negative number");
  return static_cast<unsigned>(std::stoul(v));
}

void require_absolute(const std::string& p, const std::string& what) {
  if (p.empty() || p[0] != '/') throw usage_error(what + ": \"" + p + "\" must be an absolute path");
  if (p.find("/../") != std::string::npos || (p.size() >= 3 && p.compare(p.size() - 3, 3, "/..") == 0))
    throw usage_error(what + ": \"" + p + "\" must not contain \"..\"");
}
}  // namespace

bool is_ac_name(const std::string& s) {
  static const std::regex re("^[a-z0-9]+(-[a-z0-9]+)*$");
  return s.size() <= 255 && std::regex_match(s, re);
}

std::string default_app_name(const std::string& image_name) {
  std::string base = image_name.substr(image_name.rfind('/') + 1);
  std::string out;
  for (char c : base) {
    char l = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    bool ok = (l >= 'a' && l <= 'z') || (l >= '0' && l <= '9');
    if (ok) out += l;
    else if (!out.empty() && out.back() != '-') out += '-';
  }
  while (!out.empty() && out.back() == '-') out.pop_back();
  return out.empty() ? "app" : out;
}

VolumeSpec parse_volume(const std::string& s) {
  const std::string what = "--volume " + s;
  VolumeSpec v;
  auto kv = kv_list(s, what, true, &v.name);
  if (!is_ac_name(v.name)) throw usage_error(what + ": volume name \"" + v.name + "\" must be lowercase letters, digits and dashes");
  v.kind = kv.count("kind") ? kv["kind"] : "";
  if (v.kind != "host" && v.kind != "empty") throw usage_error(what + ": kind must be host or empty");
  for (auto& [k, val] : kv) {
    if (k == "kind") continue;
    if (k == "source" && v.kind == "host") v.source = val;
    else if (k == "readOnly") v.read_only = parse_bool(val, what);
    else if (k == "recursive" && v.kind == "host") v.recursive = parse_bool(val, what);
    else if (k == "mode" && v.kind == "empty") {
      if (val.size() < 3 || val.size() > 4 || val.find_first_not_of("01234567") != std::string::npos)
        throw usage_error(what + ": mode \"" + val + "\" is not octal like 0755");
      v.mode = val;
    } else if (k == "uid" && v.kind == "empty") v.uid = parse_uint(val, what);
    else if (k == "gid" && v.kind == "empty") v.gid = parse_uint(val, what);
    else throw usage_error(what + ": unknown or misplaced key \"" + k + "\" for kind=" + v.kind);
  }
  if (v.kind == "host") {
    if (v.source.empty()) throw usage_error(what + ": kind=host needs source=/path");
    require_absolute(v.source, what);
    if (!stat_at(AT_FDCWD, v.source)) throw usage_error(what + ": source " + v.source + " does not exist");
  }
  return v;
}

MountSpec parse_mount(const std::string& s) {
  const std::string what = "--mount " + s;
  std::string unused;
  auto kv = kv_list(s, what, false, &unused);
  MountSpec m;
  for (auto& [k, val] : kv) {
    if (k == "volume") m.volume = val;
    else if (k == "target") m.target = val;
    else throw usage_error(what + ": unknown key \"" + k + "\" (use volume=NAME,target=PATH)");
  }
  if (m.volume.empty() || m.target.empty()) throw usage_error(what + ": needs volume=NAME,target=PATH");
  require_absolute(m.target, what);
  return m;
}

std::pair<std::string, std::string> parse_env(const std::string& s, const char* flag) {
  static const std::regex re("^[A-Za-z_][A-Za-z_0-9.-]*$");
  auto eq = s.find('=');
  std::string name = s.substr(0, eq);
  if (eq == std::string::npos || !std::regex_match(name, re))
    throw usage_error(std::string(flag) + " \"" + s + "\": expected NAME=VALUE with a valid variable name");
  return {name, s.substr(eq + 1)};
}

std::pair<std::string, std::string> parse_hosts_entry(const std::string& s) {
  auto eq = s.find('=');
  if (eq == std::string::npos || eq == 0 || eq + 1 == s.size())
    throw usage_error("--hosts-entry \"" + s + "\": expected IP=HOSTNAME");
  return {s.substr(0, eq), s.substr(eq + 1)};
}

namespace {
// Merge into a name-unique env list, later entries overriding earlier ones.
void set_env(nlohmann::json& env, const std::string& name, const std::string& value) {
  for (auto& e : env)
    if (e.value("name", "") == name) {
      e["value"] = value;
      return;
    }
  env.push_back({{"name", name}, {"value", value}});
}

nlohmann::json app_section(const ResolvedApp& a) {
  const AppSpec& s = a.spec;
  nlohmann::json app = a.image_manifest.contains("app") && a.image_manifest["app"].is_object()
                           ? a.image_manifest["app"]
                           : nlohmann::json::object();
  nlohmann::json exec = app.value("exec", nlohmann::json::array());
  if (s.exec) {
    if (exec.empty()) exec.push_back(*s.exec);
    else exec[0] = *s.exec;
  }
  if (s.args_given) {
    nlohmann::json e = nlohmann::json::array();
    if (!exec.empty()) e.push_back(exec[0]);
    for (const auto& x : s.args) e.push_back(x);
    exec = e;
  }
  if (exec.empty())
    throw usage_error("image " + a.image_manifest.value("name", s.image) + " has no command to run; give --exec");
  app["exec"] = exec;
  if (s.user) app["user"] = *s.user;
  if (s.group) app["group"] = *s.group;
  if (!app.contains("user")) app["user"] = "0";
  if (!app.contains("group")) app["group"] = "0";
  if (s.working_dir) {
    require_absolute(*s.working_dir, "--working-dir");
    app["workingDirectory"] = *s.working_dir;
  }
  nlohmann::json env = nlohmann::json::array();
  if (s.inherit_env)
    for (char** e = environ; *e; ++e) {
      std::string kv = *e;
      auto eq = kv.find('=');
      if (eq != std::string::npos && eq > 0) set_env(env, kv.substr(0, eq), kv.substr(eq + 1));
    }
  if (app.contains("environment") && app["environment"].is_array())
    for (const auto& e : app["environment"]) set_env(env, e.value("name", ""), e.value("value", ""));
  for (const auto& f : s.env_files) {
    std::string text = read_file(f, 1 << 20);
    size_t i = 0;
    while (i < text.size()) {
      size_t j = text.find('\n', i);
      if (j == std::string::npos) j = text.size();
      std::string line = text.substr(i, j - i);
      i = j + 1;
      if (line.empty() || line[0] == '#') continue;
      auto [k, v] = parse_env(line, "--set-env-file");
      set_env(env, k, v);
    }
  }
  for (const auto& [k, v] : s.set_env) set_env(env, k, v);
  app["environment"] = env;
  return app;
}
}  // namespace

nlohmann::json build_pod_manifest(const PodSpec& spec, const std::vector<ResolvedApp>& apps) {
  if (apps.empty()) throw usage_error("a pod must contain at least one app (give an IMAGE)");
  if (spec.runtime.interactive && apps.size() != 1) throw usage_error("--interactive works with exactly one app");
  std::set<std::string> names, vol_names;
  nlohmann::json volumes = nlohmann::json::array();
  for (const auto& v : spec.volumes) {
    if (!vol_names.insert(v.name).second) throw usage_error("volume \"" + v.name + "\" is defined twice");
    nlohmann::json jv = {{"name", v.name}, {"kind", v.kind}, {"readOnly", v.read_only}};
    if (v.kind == "host") {
      jv["source"] = v.source;
      jv["recursive"] = v.recursive;
    } else {
      jv["mode"] = v.mode;
      jv["uid"] = v.uid;
      jv["gid"] = v.gid;
    }
    volumes.push_back(jv);
  }
  nlohmann::json japps = nlohmann::json::array();
  for (const auto& a : apps) {
    std::string name = a.spec.name.empty() ? default_app_name(a.image_manifest.value("name", "app")) : a.spec.name;
    if (!is_ac_name(name))
      throw usage_error("app name \"" + name + "\" must be lowercase letters, digits and dashes (set it with --name)");
    if (!names.insert(name).second)
      throw usage_error("two apps are named \"" + name + "\"; give one of them another name with --name");
    nlohmann::json app = app_section(a);
    nlohmann::json mounts = nlohmann::json::array();
    std::set<std::string> targets;
    for (const auto& m : a.spec.mounts) {
      if (!vol_names.count(m.volume))
        throw usage_error("--mount volume=" + m.volume + ": no --volume named \"" + m.volume + "\"");
      if (!targets.insert(m.target).second) throw usage_error("app " + name + " mounts two volumes at " + m.target);
      mounts.push_back({{"volume", m.volume}, {"path", m.target}});
    }
    // Image mount points are satisfied by pod volumes of the same name.
    if (app.contains("mountPoints") && app["mountPoints"].is_array())
      for (const auto& mp : app["mountPoints"]) {
        std::string vn = mp.value("name", ""), path = mp.value("path", "");
        if (targets.count(path)) continue;
        if (!vol_names.count(vn))
          throw usage_error("image " + a.image_manifest.value("name", "?") + " needs a volume \"" + vn +
                            "\" (mount point " + path + "); give --volume " + vn + ",kind=…");
        mounts.push_back({{"volume", vn}, {"path", path}});
        targets.insert(path);
      }
    nlohmann::json image = {{"name", a.image_manifest.value("name", "")}, {"id", a.image_id}};
    if (a.image_manifest.contains("labels")) image["labels"] = a.image_manifest["labels"];
    japps.push_back({{"name", name},
                     {"image", image},
                     {"app", app},
                     {"readOnlyRootFS", a.spec.readonly_rootfs},
                     {"mounts", mounts}});
  }
  return {{"acKind", "PodManifest"}, {"acVersion", "0.8.11"}, {"apps", japps}, {"volumes", volumes},
          {"annotations", nlohmann::json::array()}, {"ports", nlohmann::json::array()}};
}

nlohmann::json runtime_json(const RuntimeOptions& rt) {
  nlohmann::json hosts = nlohmann::json::array();
  for (const auto& [ip, h] : rt.hosts) hosts.push_back({{"ip", ip}, {"host", h}});
  return {{"net", rt.net},       {"hostname", rt.hostname},     {"dns", rt.dns},
          {"hostsEntries", hosts}, {"interactive", rt.interactive}, {"attach", rt.attach}, {"notifyReady", rt.notify_ready.empty() ? "started" : rt.notify_ready},
          {"notifyApps", rt.notify_apps},
          {"cpus", rt.cpus},     {"memory", rt.memory},         {"hypervisor", rt.hypervisor},
          {"accel", rt.accel},   {"debug", rt.debug}};
}

}  // namespace pod::run
