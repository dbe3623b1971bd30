#include "contract/manifest.hpp"

#include <set>

#include "appc/names.hpp"
#include "contract/jsonread.hpp"
#include "util/error.hpp"

namespace pod::contract {

namespace {

constexpr const char* kDoc = "pod manifest";

bool has_nul(const std::string& s) { return s.find('\0') != std::string::npos; }

// An absolute path without "." or ".." components and without NUL.
void check_abs_path(const Field& f, const std::string& p) {
  if (p.empty() || p[0] != '/') f.fail("\"" + p + "\" must be an absolute path");
  if (has_nul(p)) f.fail("must not contain NUL");
  size_t i = 0;
  while (i < p.size()) {
    size_t j = p.find('/', i);
    if (j == std::string::npos) j = p.size();
    std::string_view part(p.data() + i, j - i);
    if (part == "..") f.fail("\"" + p + "\" must not contain \"..\"");
    i = j + 1;
  }
}

std::string ac_name(const Field& f) {
  std::string s = f.str();
  if (!appc::is_ac_name(s) || s.size() > 255)
    f.fail("\"" + s + "\" is not a valid name (lowercase letters, digits and single dashes, at most 255)");
  return s;
}

std::string no_nul(const Field& f) {
  std::string s = f.str();
  if (has_nul(s)) f.fail("must not contain NUL");
  return s;
}

std::vector<NameValue> name_values(const Field& f, bool env) {
  std::vector<NameValue> out;
  std::set<std::string> seen;
  for (size_t i = 0, n = f.size(); i < n; ++i) {
    Field e = f.at(i);
    NameValue nv{no_nul(e.key("name")), no_nul(e.key("value"))};
    if (env ? !appc::is_env_name(nv.name) : nv.name.empty())
      e.key("name").fail("\"" + nv.name.substr(0, 64) + "\" is not a valid " + (env ? "variable name" : "name"));
    if (!seen.insert(nv.name).second) e.key("name").fail("\"" + nv.name + "\" is given twice");
    out.push_back(std::move(nv));
  }
  return out;
}

json name_values_json(const std::vector<NameValue>& v) {
  json a = json::array();
  for (const auto& nv : v) a.push_back({{"name", nv.name}, {"value", nv.value}});
  return a;
}

std::vector<std::string> exec_list(const Field& f, bool required = true) {
  std::vector<std::string> out;
  for (size_t i = 0, n = f.size(); i < n; ++i) out.push_back(no_nul(f.at(i)));
  if ((required || !out.empty()) && (out.empty() || out[0].empty())) f.fail("must name a program to run");
  return out;
}

App parse_app_section(const Field& f, bool require_exec = true) {
  App a;
  if (f.missing()) f.fail("is required");
  f.require_object();
  a.exec = exec_list(f.key("exec"), require_exec);
  a.user = f.key("user").missing() ? "0" : no_nul(f.key("user"));
  a.group = f.key("group").missing() ? "0" : no_nul(f.key("group"));
  if (a.user.empty()) f.key("user").fail("must not be empty");
  if (a.group.empty()) f.key("group").fail("must not be empty");
  Field gids = f.key("supplementaryGIDs");
  for (size_t i = 0, n = gids.size(); i < n; ++i) a.supplementary_gids.push_back(static_cast<uint32_t>(gids.at(i).uint(kMaxId)));
  a.working_directory = f.key("workingDirectory").str_or("");
  if (!a.working_directory.empty()) check_abs_path(f.key("workingDirectory"), a.working_directory);
  a.environment = name_values(f.key("environment"), true);
  Field isos = f.key("isolators");
  for (size_t i = 0, n = isos.size(); i < n; ++i) {
    Field iso = isos.at(i);
    std::string name = iso.key("name").str();
    if (!appc::is_ac_identifier(name)) iso.key("name").fail("\"" + name + "\" is not a valid isolator name");
    a.isolators.push_back({name, iso.key("value").value()});
  }
  Field mps = f.key("mountPoints");
  std::set<std::string> mp_names;
  for (size_t i = 0, n = mps.size(); i < n; ++i) {
    Field mp = mps.at(i);
    MountPoint m{ac_name(mp.key("name")), mp.key("path").str(), mp.key("readOnly").boolean_or(false)};
    check_abs_path(mp.key("path"), m.path);
    if (!mp_names.insert(m.name).second) mp.key("name").fail("\"" + m.name + "\" is given twice");
    a.mount_points.push_back(std::move(m));
  }
  Field ports = f.key("ports");
  for (size_t i = 0, n = ports.size(); i < n; ++i) {
    Field p = ports.at(i);
    Port port{ac_name(p.key("name")), p.key("protocol").str_or("tcp"),
              static_cast<uint16_t>(p.key("port").uint(65535)), 1, p.key("socketActivated").boolean_or(false)};
    if (port.protocol.empty() || has_nul(port.protocol)) p.key("protocol").fail("must be a protocol name");
    if (auto c = p.key("count").uint_opt(65535)) port.count = static_cast<uint32_t>(*c);
    if (port.count == 0) p.key("count").fail("must be at least 1");
    a.ports.push_back(std::move(port));
  }
  Field ehs = f.key("eventHandlers");
  for (size_t i = 0, n = ehs.size(); i < n; ++i) {
    Field eh = ehs.at(i);
    EventHandler h{eh.key("name").str(), exec_list(eh.key("exec"))};
    if (h.name != "pre-start" && h.name != "post-stop") eh.key("name").fail("must be pre-start or post-stop");
    for (const auto& other : a.event_handlers)
      if (other.name == h.name) eh.key("name").fail("a second " + h.name + " handler (at most one of each)");
    a.event_handlers.push_back(std::move(h));
  }
  return a;
}

Volume parse_volume(const Field& f) {
  Volume v;
  v.name = ac_name(f.key("name"));
  std::string kind = f.key("kind").str();
  if (kind == "host") v.kind = VolumeKind::Host;
  else if (kind == "empty") v.kind = VolumeKind::Empty;
  else f.key("kind").fail("\"" + kind + "\" is not host or empty");
  v.read_only = f.key("readOnly").boolean_or(false);
  if (v.kind == VolumeKind::Host) {
    v.source = f.key("source").str();
    check_abs_path(f.key("source"), v.source);
    v.recursive = f.key("recursive").boolean_or(true);
  } else {
    v.mode = parse_mode(f.key("mode").str_or("0755"), f.key("mode").path());
    v.uid = static_cast<uint32_t>(f.key("uid").uint_opt(kMaxId).value_or(0));
    v.gid = static_cast<uint32_t>(f.key("gid").uint_opt(kMaxId).value_or(0));
  }
  return v;
}

RuntimeApp parse_runtime_app(const Field& f, const std::vector<Volume>& volumes) {
  RuntimeApp ra;
  ra.name = ac_name(f.key("name"));
  Field img = f.key("image");
  ra.image.name = img.key("name").str_or("");
  ra.image.id = img.key("id").str_or("");
  if (ra.image.name.empty() && ra.image.id.empty()) img.fail("needs a name or an id");
  ra.image.labels = name_values(img.key("labels"), false);
  ra.app = parse_app_section(f.key("app"));
  ra.read_only_rootfs = f.key("readOnlyRootFS").boolean_or(false);
  ra.annotations = name_values(f.key("annotations"), false);
  Field ms = f.key("mounts");
  std::set<std::string> paths;
  for (size_t i = 0, n = ms.size(); i < n; ++i) {
    Field m = ms.at(i);
    Mount mount{m.key("volume").str(), m.key("path").str_or(""), m.key("readOnly").boolean_or(false)};
    if (mount.path.empty()) {  // appc's older form names an image mount point instead of a path
      std::string mp = m.key("mountPoint").str_or(mount.volume);
      for (const auto& p : ra.app.mount_points)
        if (p.name == mp) mount.path = p.path;
      if (mount.path.empty()) m.fail("has no path and the image has no mount point \"" + mp + "\"");
    }
    check_abs_path(m.key("path").missing() ? m : m.key("path"), mount.path);
    bool known = false;
    for (const auto& v : volumes) known = known || v.name == mount.volume;
    if (!known) m.key("volume").fail("\"" + mount.volume + "\" is not a volume of this pod");
    if (!paths.insert(mount.path).second) m.key("path").fail("two volumes are mounted at " + mount.path);
    for (const auto& p : ra.app.mount_points)
      if (p.path == mount.path && p.read_only) mount.read_only = true;
    ra.mounts.push_back(std::move(mount));
  }
  return ra;
}

json volume_json(const Volume& v) {
  json j = {{"name", v.name}, {"kind", to_string(v.kind)}, {"readOnly", v.read_only}};
  if (v.kind == VolumeKind::Host) {
    j["source"] = v.source;
    j["recursive"] = v.recursive;
  } else {
    j["mode"] = format_mode(v.mode);
    j["uid"] = v.uid;
    j["gid"] = v.gid;
  }
  return j;
}

}  // namespace

const char* to_string(VolumeKind k) { return k == VolumeKind::Host ? "host" : "empty"; }

mode_t parse_mode(const std::string& s, const std::string& what) {
  if (s.empty() || s.size() > 5 || s.find_first_not_of("01234567") != std::string::npos)
    throw invalid_error(what + ": \"" + s.substr(0, 16) + "\" is not an octal mode like 0755");
  mode_t m = 0;
  for (char c : s) m = static_cast<mode_t>(m * 8 + static_cast<mode_t>(c - '0'));
  if (m > 07777) throw invalid_error(what + ": \"" + s + "\" is not a file mode (at most 07777)");
  return m;
}

std::string format_mode(mode_t m) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%04o", static_cast<unsigned>(m & 07777));
  return buf;
}

const RuntimeApp* PodManifest::app(const std::string& name) const { return find_named(apps, name); }

const Volume* PodManifest::volume(const std::string& name) const { return find_named(volumes, name); }

std::vector<std::string> PodManifest::app_names() const {
  std::vector<std::string> out;
  for (const auto& a : apps) out.push_back(a.name);
  return out;
}

App app_from_json(const json& j, const std::string& doc, bool require_exec) {
  return parse_app_section(Field(doc, j), require_exec);
}

PodManifest pod_manifest_from_json(const json& j) {
  Field root(kDoc, j);
  root.require_object();
  if (std::string kind = root.key("acKind").str(); kind != kPodManifestKind)
    root.key("acKind").fail("\"" + kind + "\" is not " + kPodManifestKind);
  PodManifest m;
  m.ac_version = root.key("acVersion").str();
  Field vols = root.key("volumes");
  std::set<std::string> names;
  for (size_t i = 0, n = vols.size(); i < n; ++i) {
    m.volumes.push_back(parse_volume(vols.at(i)));
    if (!names.insert(m.volumes.back().name).second) vols.at(i).key("name").fail("volume \"" + m.volumes.back().name + "\" is defined twice");
  }
  Field apps = root.key("apps");
  names.clear();
  for (size_t i = 0, n = apps.size(); i < n; ++i) {
    m.apps.push_back(parse_runtime_app(apps.at(i), m.volumes));
    if (!names.insert(m.apps.back().name).second) apps.at(i).key("name").fail("two apps are named \"" + m.apps.back().name + "\"");
  }
  m.annotations = name_values(root.key("annotations"), false);
  Field ports = root.key("ports");
  for (size_t i = 0, n = ports.size(); i < n; ++i) {
    Field p = ports.at(i);
    m.ports.push_back({ac_name(p.key("name")), static_cast<uint16_t>(p.key("hostPort").uint(65535)),
                       p.key("hostIP").str_or("")});
  }
  return m;
}

PodManifest parse_pod_manifest(const std::string& text) { return pod_manifest_from_json(parse_json(text, kDoc)); }

json to_json(const App& a) {
  json j = {{"exec", a.exec}, {"user", a.user}, {"group", a.group}, {"environment", name_values_json(a.environment)}};
  if (!a.supplementary_gids.empty()) j["supplementaryGIDs"] = a.supplementary_gids;
  if (!a.working_directory.empty()) j["workingDirectory"] = a.working_directory;
  if (!a.isolators.empty()) {
    j["isolators"] = json::array();
    for (const auto& i : a.isolators) j["isolators"].push_back({{"name", i.name}, {"value", i.value}});
  }
  if (!a.mount_points.empty()) {
    j["mountPoints"] = json::array();
    for (const auto& m : a.mount_points) j["mountPoints"].push_back({{"name", m.name}, {"path", m.path}, {"readOnly", m.read_only}});
  }
  if (!a.ports.empty()) {
    j["ports"] = json::array();
    for (const auto& p : a.ports)
      j["ports"].push_back({{"name", p.name}, {"protocol", p.protocol}, {"port", p.port}, {"count", p.count},
                            {"socketActivated", p.socket_activated}});
  }
  if (!a.event_handlers.empty()) {
    j["eventHandlers"] = json::array();
    for (const auto& h : a.event_handlers) j["eventHandlers"].push_back({{"name", h.name}, {"exec", h.exec}});
  }
  return j;
}

json to_json(const PodManifest& m) {
  json apps = json::array();
  for (const auto& a : m.apps) {
    json image = {{"name", a.image.name}, {"id", a.image.id}};
    if (!a.image.labels.empty()) image["labels"] = name_values_json(a.image.labels);
    json mounts = json::array();
    for (const auto& mt : a.mounts) {
      json jm = {{"volume", mt.volume}, {"path", mt.path}};
      if (mt.read_only) jm["readOnly"] = true;
      mounts.push_back(jm);
    }
    json ja = {{"name", a.name}, {"image", image}, {"app", to_json(a.app)}, {"readOnlyRootFS", a.read_only_rootfs},
               {"mounts", mounts}};
    if (!a.annotations.empty()) ja["annotations"] = name_values_json(a.annotations);
    apps.push_back(ja);
  }
  json vols = json::array();
  for (const auto& v : m.volumes) vols.push_back(volume_json(v));
  json ports = json::array();
  for (const auto& p : m.ports) {
    json jp = {{"name", p.name}, {"hostPort", p.host_port}};
    if (!p.host_ip.empty()) jp["hostIP"] = p.host_ip;
    ports.push_back(jp);
  }
  return {{"acKind", kPodManifestKind}, {"acVersion", m.ac_version},      {"apps", apps},
          {"volumes", vols},            {"annotations", name_values_json(m.annotations)}, {"ports", ports}};
}

void validate(const PodManifest& m) {
  // The readers' rules are the rules: round-trip through them.
  (void)pod_manifest_from_json(to_json(m));
}

std::string serialize(const PodManifest& m) {
  json j = to_json(m);
  (void)pod_manifest_from_json(j);
  try {
    return j.dump(2) + "\n";
  } catch (const json::type_error& e) {  // UTF-8 that the field check let through (overlong forms)
    throw invalid_error(std::string(kDoc) + ": " + e.what());
  }
}

}  // namespace pod::contract
