#include "run/podspec.hpp"

#include <fcntl.h>

#include <cstdlib>
#include <fstream>
#include <map>
#include <set>

#include "appc/image_manifest.hpp"
#include "contract/apporder.hpp"
#include "isolators/isolators.hpp"
#include "images/oci.hpp"
#include "appc/names.hpp"
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

uint32_t parse_id(const std::string& v, const std::string& what) {
  if (v.empty() || v.find_first_not_of("0123456789") != std::string::npos)
    throw usage_error(what + ": \"" + v.substr(0, 32) + "\" is not a non-negative number");
  uint64_t n = 0;
  for (char c : v) {
    n = n * 10 + static_cast<uint64_t>(c - '0');
    if (n > contract::kMaxId)
      throw usage_error(what + ": " + v.substr(0, 32) + " is out of range (ids go up to " +
                        std::to_string(contract::kMaxId) + ")");
  }
  return static_cast<uint32_t>(n);
}

void require_absolute(const std::string& p, const std::string& what) {
  if (p.empty() || p[0] != '/') throw usage_error(what + ": \"" + p + "\" must be an absolute path");
  if (p.find("/../") != std::string::npos || (p.size() >= 3 && p.compare(p.size() - 3, 3, "/..") == 0))
    throw usage_error(what + ": \"" + p + "\" must not contain \"..\"");
}
}  // namespace

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
  v.kind = kv.count("kind") ? kv["kind"] : "";
  if (v.kind != "host" && v.kind != "empty") check_volume(v, what);  // throws: the kind (or the name) is wrong
  for (auto& [k, val] : kv) {
    if (k == "kind") continue;
    if (k == "source" && v.kind == "host") v.source = val;
    else if (k == "readOnly") v.read_only = parse_bool(val, what);
    else if (k == "recursive" && v.kind == "host") v.recursive = parse_bool(val, what);
    else if (k == "mode" && v.kind == "empty") {
      // The contract's parser decides what a mode is; here its refusal is the flag's usage error.
      try {
        if (val.size() < 3) throw invalid_error("too short");
        (void)contract::parse_mode(val, what);
      } catch (const Error&) {
        throw usage_error(what + ": mode \"" + val.substr(0, 16) + "\" is not octal like 0755");
      }
      v.mode = val;
    } else if (k == "uid" && v.kind == "empty") v.uid = parse_id(val, what);
    else if (k == "gid" && v.kind == "empty") v.gid = parse_id(val, what);
    else throw usage_error(what + ": unknown or misplaced key \"" + k + "\" for kind=" + v.kind);
  }
  if (v.kind == "host" && v.source.empty()) throw usage_error(what + ": kind=host needs source=/path");
  check_volume(v, what);
  return v;
}

void check_volume(const VolumeSpec& v, const std::string& what) {
  if (!appc::is_ac_name(v.name) || v.name.size() > 255)
    throw usage_error(what + ": volume name \"" + v.name.substr(0, 64) + "\" must be lowercase letters, digits and dashes");
  if (v.kind != "host" && v.kind != "empty") throw usage_error(what + ": kind must be host or empty");
  if (v.kind != "host") return;
  require_absolute(v.source, what);
  if (!stat_at(AT_FDCWD, v.source)) throw usage_error(what + ": source " + v.source + " does not exist");
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
  auto eq = s.find('=');
  std::string name = s.substr(0, eq);
  if (eq == std::string::npos || !appc::is_env_name(name) || name.size() > 4096)
    throw usage_error(std::string(flag) + " \"" + s.substr(0, 80) + (s.size() > 80 ? "…" : "") +
                      "\": expected NAME=VALUE with a valid variable name");
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
void set_env(std::vector<contract::NameValue>& env, const std::string& name, const std::string& value) {
  for (auto& e : env)
    if (e.name == name) {
      e.value = value;
      return;
    }
  env.push_back({name, value});
}

// The Entrypoint an OCI image's manifest carries (images/oci.cpp), if it is one.
std::optional<std::vector<std::string>> oci_entrypoint(const nlohmann::json& m) {
  const auto text = appc::manifest_annotation(m, images::oci::kEntrypointAnnotation);
  if (!text) return std::nullopt;
  auto v = nlohmann::json::parse(*text, nullptr, false);
  if (!v.is_array() || !std::all_of(v.begin(), v.end(), [](const auto& x) { return x.is_string(); }))
    throw Error("image annotation " + std::string(images::oci::kEntrypointAnnotation) + " is not a list of strings");
  return v.get<std::vector<std::string>>();
}

std::string image_name(const ResolvedApp& a) { return a.image_manifest.value("name", a.spec.image); }

// The image's app section with the flags' overrides applied.
contract::App app_section(const ResolvedApp& a) {
  const AppSpec& s = a.spec;
  contract::App app;
  const nlohmann::json* section = a.image_manifest.contains("app") ? &a.image_manifest["app"] : nullptr;
  // An image may name no program; the flags must then.
  if (section && section->is_object()) app = contract::app_from_json(*section, "image " + image_name(a) + ": app", false);
  if (auto ep = oci_entrypoint(a.image_manifest)) {
    // An OCI image: --exec replaces its Entrypoint and drops its Cmd (docker's --entrypoint); arguments
    // replace its Cmd.
    if (s.exec) app.exec = {*s.exec};
    else if (s.args_given) app.exec = *ep;
    if (s.args_given) app.exec.insert(app.exec.end(), s.args.begin(), s.args.end());
  } else {
    if (s.exec) {
      if (app.exec.empty()) app.exec.push_back(*s.exec);
      else app.exec[0] = *s.exec;
    }
    if (s.args_given) {
      std::vector<std::string> e;
      if (!app.exec.empty()) e.push_back(app.exec[0]);
      e.insert(e.end(), s.args.begin(), s.args.end());
      app.exec = e;
    }
  }
  if (app.exec.empty() || app.exec[0].empty())
    throw usage_error("image " + image_name(a) + " has no command to run; give --exec");
  if (s.user) app.user = *s.user;
  if (s.group) app.group = *s.group;
  if (s.working_dir) {
    require_absolute(*s.working_dir, "--working-dir");
    app.working_directory = *s.working_dir;
  }
  std::vector<contract::NameValue> env;
  if (s.inherit_env)
    for (char** e = environ; *e; ++e) {
      std::string kv = *e;
      auto eq = kv.find('=');
      if (eq != std::string::npos && eq > 0 && appc::is_env_name(kv.substr(0, eq))) set_env(env, kv.substr(0, eq), kv.substr(eq + 1));
    }
  for (const auto& e : app.environment) set_env(env, e.name, e.value);
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
  app.environment = env;
  return app;
}

}  // namespace

contract::Volume volume_of(const VolumeSpec& v) {
  contract::Volume cv;
  cv.name = v.name;
  cv.kind = v.kind == "host" ? contract::VolumeKind::Host : contract::VolumeKind::Empty;
  cv.read_only = v.read_only;
  if (cv.kind == contract::VolumeKind::Host) {
    cv.source = v.source;
    cv.recursive = v.recursive;
  } else {
    cv.mode = contract::parse_mode(v.mode, "--volume " + v.name + " mode");
    cv.uid = v.uid;
    cv.gid = v.gid;
  }
  return cv;
}

namespace {
// Caller-given annotations: AC identifier names, each once, none of pod's own.
void add_annotations(std::vector<contract::NameValue>& to, const std::vector<std::pair<std::string, std::string>>& given,
                     const std::string& whose) {
  for (const auto& [k, v] : given) {
    if (!appc::is_ac_identifier(k)) throw usage_error(whose + ": annotation name \"" + k + "\" is not an AC identifier");
    for (const auto& nv : to)
      if (nv.name == k) throw usage_error(whose + ": annotation \"" + k + "\" is given twice (or is pod's own)");
    to.push_back({k, v});
  }
}
}  // namespace

contract::RuntimeApp build_app(const ResolvedApp& a, const std::set<std::string>& vol_names,
                               const IsolatorSpec& isolator_defaults) {
  if (!a.spec.cri_log.empty())  // add_app handles it; the init does not look for it in apps it starts at boot
    throw usage_error("a CRI log file is only for apps added to a running pod (" + a.spec.cri_log + ")");
  if (!a.spec.volumes.empty())  // add_app adds them to the pod; a new pod's volumes are PodSpec::volumes
    throw usage_error("volumes of an app (" + a.spec.volumes.front().name + ") are only for apps added to a running "
                      "pod; give them as the pod's volumes");
  contract::RuntimeApp ra;
  ra.name = a.spec.name.empty() ? default_app_name(image_name(a)) : a.spec.name;
  if (!appc::is_ac_name(ra.name) || ra.name.size() > 255)
    throw usage_error("app name \"" + ra.name.substr(0, 64) +
                      "\" must be lowercase letters, digits and dashes (set it with --name)");
  ra.app = app_section(a);
  ra.app.isolators = isolators::merge(ra.app.isolators, a.spec.isolators, isolator_defaults);
  std::set<std::string> targets;
  for (const auto& mt : a.spec.mounts) {
    require_absolute(mt.target, "app " + ra.name + ": mount of volume " + mt.volume + " at");
    if (mt.target == "/") throw usage_error("app " + ra.name + ": volume " + mt.volume + " cannot be mounted at /");
    if (!vol_names.count(mt.volume))
      throw usage_error("--mount volume=" + mt.volume + ": no --volume named \"" + mt.volume + "\"");
    if (!targets.insert(mt.target).second) throw usage_error("app " + ra.name + " mounts two volumes at " + mt.target);
    ra.mounts.push_back({mt.volume, mt.target, false});
  }
  // Image mount points are satisfied by pod volumes of the same name.
  for (const auto& mp : ra.app.mount_points) {
    if (targets.count(mp.path)) continue;
    // An OCI image's VOLUME without a --volume stays in the app's own writable rootfs: like docker's
    // anonymous volume it starts with the image's content there and goes with the pod.
    if (!vol_names.count(mp.name) && oci_entrypoint(a.image_manifest)) continue;
    if (!vol_names.count(mp.name))
      throw usage_error("image " + image_name(a) + " needs a volume \"" + mp.name + "\" (mount point " + mp.path +
                        "); give --volume " + mp.name + ",kind=…");
    ra.mounts.push_back({mp.name, mp.path, mp.read_only});
    targets.insert(mp.path);
  }
  ra.image.name = a.image_manifest.value("name", "");
  ra.image.id = a.image_id;
  for (const auto& [k, v] : appc::manifest_labels(a.image_manifest)) ra.image.labels.push_back({k, v});
  ra.read_only_rootfs = a.spec.readonly_rootfs;
  if (!a.spec.after.empty()) {
    std::string after;
    for (const auto& n : a.spec.after) after += (after.empty() ? "" : ",") + n;
    contract::parse_after(after, "app " + ra.name + ": --after");
    ra.annotations.push_back({contract::kAnnAfter, after});
  }
  add_annotations(ra.annotations, a.spec.annotations, "app " + ra.name);
  return ra;
}

contract::PodManifest build_pod_manifest(const PodSpec& spec, const std::vector<ResolvedApp>& apps) {
  if (apps.empty() && !spec.sandbox) throw usage_error("a pod must contain at least one app (give an IMAGE)");
  if (spec.interactive && (apps.size() != 1 || spec.sandbox)) throw usage_error("--interactive works with exactly one app");
  contract::PodManifest m;
  std::set<std::string> names, vol_names;
  for (const auto& v : spec.volumes) {
    if (!vol_names.insert(v.name).second) throw usage_error("volume \"" + v.name + "\" is defined twice");
    m.volumes.push_back(volume_of(v));
  }
  for (const auto& a : apps) {
    contract::RuntimeApp ra = build_app(a, vol_names, spec.isolator_defaults);
    if (!names.insert(ra.name).second)
      throw usage_error("two apps are named \"" + ra.name + "\"; give one of them another name with --name");
    m.apps.push_back(std::move(ra));
  }
  if (spec.sandbox) m.annotations.push_back({contract::kAnnSandbox, "true"});
  add_annotations(m.annotations, spec.annotations, "the pod");
  contract::check_app_order(m);
  try {
    contract::validate(m);
  } catch (const Error& e) {
    throw usage_error(e.what());
  }
  return m;
}

contract::Runtime runtime_of(const PodSpec& spec) {
  contract::Runtime rt;
  rt.net = spec.net;
  rt.hostname = spec.hostname;
  rt.dns = spec.dns;
  rt.dns_search = spec.dns_search;
  rt.dns_options = spec.dns_options;
  for (const auto& [ip, h] : spec.hosts) rt.hosts.push_back({ip, h});
  rt.interactive = spec.interactive;
  rt.debug = spec.debug;
  rt.notify_ready = spec.notify_ready;
  rt.stage1_options = spec.stage1.options;
  for (const auto& o : spec.insecure_isolation)
    if (o != "isolators") rt.insecure_options.push_back(o);
  return rt;
}

}  // namespace pod::run
