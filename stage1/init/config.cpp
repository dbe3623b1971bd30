#include "config.hpp"

#include <linux/capability.h>

#include <algorithm>
#include <map>

#include "util/error.hpp"
#include "util/fs.hpp"

namespace pod::init {

namespace {

using nlohmann::json;

const std::map<std::string, int>& cap_names() {
  static const std::map<std::string, int> m = {
      {"CHOWN", CAP_CHOWN}, {"DAC_OVERRIDE", CAP_DAC_OVERRIDE}, {"DAC_READ_SEARCH", CAP_DAC_READ_SEARCH},
      {"FOWNER", CAP_FOWNER}, {"FSETID", CAP_FSETID}, {"KILL", CAP_KILL}, {"SETGID", CAP_SETGID},
      {"SETUID", CAP_SETUID}, {"SETPCAP", CAP_SETPCAP}, {"LINUX_IMMUTABLE", CAP_LINUX_IMMUTABLE},
      {"NET_BIND_SERVICE", CAP_NET_BIND_SERVICE}, {"NET_BROADCAST", CAP_NET_BROADCAST},
      {"NET_ADMIN", CAP_NET_ADMIN}, {"NET_RAW", CAP_NET_RAW}, {"IPC_LOCK", CAP_IPC_LOCK},
      {"IPC_OWNER", CAP_IPC_OWNER}, {"SYS_MODULE", CAP_SYS_MODULE}, {"SYS_RAWIO", CAP_SYS_RAWIO},
      {"SYS_CHROOT", CAP_SYS_CHROOT}, {"SYS_PTRACE", CAP_SYS_PTRACE}, {"SYS_PACCT", CAP_SYS_PACCT},
      {"SYS_ADMIN", CAP_SYS_ADMIN}, {"SYS_BOOT", CAP_SYS_BOOT}, {"SYS_NICE", CAP_SYS_NICE},
      {"SYS_RESOURCE", CAP_SYS_RESOURCE}, {"SYS_TIME", CAP_SYS_TIME}, {"SYS_TTY_CONFIG", CAP_SYS_TTY_CONFIG},
      {"MKNOD", CAP_MKNOD}, {"LEASE", CAP_LEASE}, {"AUDIT_WRITE", CAP_AUDIT_WRITE},
      {"AUDIT_CONTROL", CAP_AUDIT_CONTROL}, {"SETFCAP", CAP_SETFCAP}, {"MAC_OVERRIDE", CAP_MAC_OVERRIDE},
      {"MAC_ADMIN", CAP_MAC_ADMIN}, {"SYSLOG", CAP_SYSLOG}, {"WAKE_ALARM", CAP_WAKE_ALARM},
      {"BLOCK_SUSPEND", CAP_BLOCK_SUSPEND}, {"AUDIT_READ", CAP_AUDIT_READ},
  };
  return m;
}

std::string str(const json& j, const char* key, const std::string& def = "") {
  if (!j.contains(key) || j[key].is_null()) return def;
  if (!j[key].is_string()) throw Error(std::string("\"") + key + "\" must be a string");
  return j[key].get<std::string>();
}

bool boolean(const json& j, const char* key, bool def) {
  if (!j.contains(key) || j[key].is_null()) return def;
  if (!j[key].is_boolean()) throw Error(std::string("\"") + key + "\" must be true or false");
  return j[key].get<bool>();
}

const json& array(const json& j, const char* key) {
  static const json empty = json::array();
  if (!j.contains(key) || j[key].is_null()) return empty;
  if (!j[key].is_array()) throw Error(std::string("\"") + key + "\" must be a list");
  return j[key];
}

uint64_t capability_set(const json& value) {
  uint64_t set = 0;
  for (const auto& n : array(value, "set")) set |= 1ull << capability_from_name(n.get<std::string>());
  return set;
}

void apply_isolators(App& app, const json& isolators) {
  for (const auto& iso : isolators) {
    const std::string name = str(iso, "name");
    const json value = iso.contains("value") ? iso["value"] : json::object();
    if (name == "os/linux/capabilities-retain-set") {
      app.capabilities = capability_set(value);
    } else if (name == "os/linux/capabilities-remove-set") {
      app.capabilities &= ~capability_set(value);
    } else if (name == "os/linux/no-new-privileges") {
      app.no_new_privs = value.is_boolean() ? value.get<bool>() : true;
    }
    // Other isolators (resources, seccomp sets, selinux) are handled by stage0
    // or not at all; stage0 tells the user which ones it ignores.
  }
}

App parse_app(const json& a) {
  App app;
  app.name = str(a, "name");
  if (app.name.empty() || app.name.find('/') != std::string::npos || app.name[0] == '.')
    throw Error("invalid app name \"" + app.name + "\"");
  app.capabilities = default_capabilities();
  app.read_only_rootfs = boolean(a, "readOnlyRootFS", false);
  const json& s = a.contains("app") && a["app"].is_object() ? a["app"] : json::object();
  for (const auto& e : array(s, "exec")) app.exec.push_back(e.get<std::string>());
  if (app.exec.empty()) throw Error("app " + app.name + " has no exec");
  app.user = str(s, "user", "0");
  app.group = str(s, "group", "0");
  for (const auto& g : array(s, "supplementaryGIDs")) app.supplementary_gids.push_back(g.get<gid_t>());
  app.working_dir = str(s, "workingDirectory", "/");
  if (app.working_dir.empty()) app.working_dir = "/";
  if (app.working_dir[0] != '/') throw Error("app " + app.name + ": workingDirectory must be absolute");
  for (const auto& e : array(s, "environment")) app.environment.emplace_back(str(e, "name"), str(e, "value"));
  apply_isolators(app, array(s, "isolators"));
  std::map<std::string, std::pair<std::string, bool>> mount_points;  // name -> path, readOnly
  for (const auto& mp : array(s, "mountPoints"))
    mount_points[str(mp, "name")] = {str(mp, "path"), boolean(mp, "readOnly", false)};
  for (const auto& m : array(a, "mounts")) {
    Mount mount;
    mount.volume = str(m, "volume");
    mount.path = str(m, "path");
    mount.read_only = boolean(m, "readOnly", false);
    if (mount.path.empty()) {  // older manifests name a mountPoint instead of a path
      auto it = mount_points.find(str(m, "mountPoint", mount.volume));
      if (it == mount_points.end()) throw Error("app " + app.name + ": mount of " + mount.volume + " has no path");
      mount.path = it->second.first;
    }
    for (const auto& [_, mp] : mount_points)
      if (mp.first == mount.path && mp.second) mount.read_only = true;
    if (mount.path[0] != '/') throw Error("app " + app.name + ": mount path " + mount.path + " is not absolute");
    app.mounts.push_back(mount);
  }
  return app;
}

Volume parse_volume(const json& v) {
  Volume vol;
  vol.name = str(v, "name");
  vol.kind = str(v, "kind");
  if (vol.name.empty() || vol.name.find('/') != std::string::npos || vol.name[0] == '.')
    throw Error("invalid volume name \"" + vol.name + "\"");
  if (vol.kind != "host" && vol.kind != "empty") throw Error("volume " + vol.name + ": unknown kind " + vol.kind);
  vol.read_only = boolean(v, "readOnly", false);
  vol.mode = static_cast<mode_t>(std::stoul(str(v, "mode", "0755"), nullptr, 8));
  if (v.contains("uid") && v["uid"].is_number_integer()) vol.uid = v["uid"].get<uid_t>();
  if (v.contains("gid") && v["gid"].is_number_integer()) vol.gid = v["gid"].get<gid_t>();
  return vol;
}

Runtime parse_runtime(const json& r) {
  Runtime rt;
  rt.net = str(r, "net", "host");
  rt.hostname = str(r, "hostname");
  for (const auto& d : array(r, "dns")) rt.dns.push_back(d.get<std::string>());
  for (const auto& h : array(r, "hostsEntries")) rt.hosts_entries.push_back({str(h, "ip"), str(h, "host")});
  rt.interactive = boolean(r, "interactive", false);
  rt.attach = boolean(r, "attach", false);
  rt.debug = boolean(r, "debug", false);
  if (r.contains("stopTimeout") && r["stopTimeout"].is_number_integer()) rt.stop_timeout_s = r["stopTimeout"].get<int>();
  return rt;
}

}  // namespace

uint64_t default_capabilities() {
  uint64_t set = 0;
  for (int c : {CAP_AUDIT_WRITE, CAP_CHOWN, CAP_DAC_OVERRIDE, CAP_FSETID, CAP_FOWNER, CAP_KILL, CAP_MKNOD, CAP_NET_RAW,
                CAP_NET_BIND_SERVICE, CAP_SETUID, CAP_SETGID, CAP_SETPCAP, CAP_SETFCAP, CAP_SYS_CHROOT})
    set |= 1ull << c;
  return set;
}

int capability_from_name(const std::string& name_in) {
  std::string name = name_in;
  std::transform(name.begin(), name.end(), name.begin(), ::toupper);
  if (name.rfind("CAP_", 0) == 0) name = name.substr(4);
  auto it = cap_names().find(name);
  if (it == cap_names().end()) throw Error("unknown capability " + name_in);
  return it->second;
}

const Volume* PodConfig::volume(const std::string& name) const {
  for (const auto& v : volumes)
    if (v.name == name) return &v;
  return nullptr;
}

const App* PodConfig::app(const std::string& name) const {
  for (const auto& a : apps)
    if (a.name == name) return &a;
  return nullptr;
}

PodConfig parse_config(const std::string& manifest_json, const std::string& runtime_json) {
  PodConfig cfg;
  try {
    json m = json::parse(manifest_json);
    for (const auto& a : array(m, "apps")) cfg.apps.push_back(parse_app(a));
    for (const auto& v : array(m, "volumes")) cfg.volumes.push_back(parse_volume(v));
  } catch (const json::exception& e) {
    throw Error(std::string("pod manifest: ") + e.what());
  } catch (const Error& e) {
    throw e.with_context("pod manifest");
  }
  if (cfg.apps.empty()) throw Error("pod manifest: no apps");
  for (const auto& a : cfg.apps)
    for (const auto& m : a.mounts)
      if (!cfg.volume(m.volume)) throw Error("app " + a.name + ": mount of unknown volume " + m.volume);
  try {
    if (!runtime_json.empty()) cfg.runtime = parse_runtime(json::parse(runtime_json));
  } catch (const json::exception& e) {
    throw Error(std::string("runtime.json: ") + e.what());
  } catch (const Error& e) {
    throw e.with_context("runtime.json");
  }
  return cfg;
}

PodConfig load_config(int pod_dirfd) {
  return parse_config(read_file_at(pod_dirfd, "pod"), try_read_file_at(pod_dirfd, "runtime.json").value_or(""));
}

}  // namespace pod::init
