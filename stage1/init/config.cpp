#include "config.hpp"

#include <linux/capability.h>

#include <algorithm>
#include <map>

#include "contract/jsonread.hpp"
#include "contract/manifest.hpp"
#include "contract/poddir.hpp"
#include "contract/runtime.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"

namespace pod::init {

namespace {


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

uint64_t capability_set(const contract::Isolator& iso) {
  uint64_t set = 0;
  contract::Field f("isolator " + iso.name, iso.value);
  for (const auto& n : f.key("set").strings()) set |= 1ull << capability_from_name(n);
  return set;
}

App app_of(const contract::RuntimeApp& ra) {
  App app;
  app.name = ra.name;
  app.capabilities = default_capabilities();
  app.read_only_rootfs = ra.read_only_rootfs;
  app.exec = ra.app.exec;
  app.user = ra.app.user;
  app.group = ra.app.group;
  for (uint32_t g : ra.app.supplementary_gids) app.supplementary_gids.push_back(static_cast<gid_t>(g));
  app.working_dir = ra.app.working_directory.empty() ? "/" : ra.app.working_directory;
  for (const auto& e : ra.app.environment) app.environment.emplace_back(e.name, e.value);
  for (const auto& iso : ra.app.isolators) {
    if (iso.name == "os/linux/capabilities-retain-set") app.capabilities = capability_set(iso);
    else if (iso.name == "os/linux/capabilities-remove-set") app.capabilities &= ~capability_set(iso);
    else if (iso.name == "os/linux/no-new-privileges") app.no_new_privs = iso.value.is_boolean() ? iso.value.get<bool>() : true;
    // Other isolators (resources, seccomp sets) are not applied by this init yet.
  }
  for (const auto& m : ra.mounts) app.mounts.push_back({m.volume, m.path, m.read_only});
  return app;
}

Volume volume_of(const contract::Volume& v) {
  Volume vol;
  vol.name = v.name;
  vol.kind = contract::to_string(v.kind);
  vol.read_only = v.read_only;
  vol.recursive = v.recursive;
  vol.mode = v.mode;
  vol.uid = static_cast<uid_t>(v.uid);
  vol.gid = static_cast<gid_t>(v.gid);
  return vol;
}

Runtime runtime_of(const contract::Runtime& r) {
  Runtime rt;
  rt.net = r.net;
  rt.hostname = r.hostname;
  rt.dns = r.dns;
  rt.dns_search = r.dns_search;
  rt.dns_options = r.dns_options;
  for (const auto& h : r.hosts) rt.hosts_entries.push_back({h.ip, h.host});
  rt.interactive = r.interactive;
  rt.attach = r.attach;
  rt.debug = r.debug;
  rt.stop_timeout_s = r.stop_timeout_s;
  rt.metadata_url = r.metadata_url;
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

const Volume* PodConfig::volume(const std::string& name) const { return contract::find_named(volumes, name); }

const App* PodConfig::app(const std::string& name) const { return contract::find_named(apps, name); }

PodConfig parse_config(const std::string& manifest_json, const std::string& runtime_json) {
  const contract::PodManifest m = contract::parse_pod_manifest(manifest_json);
  PodConfig cfg;
  for (const auto& a : m.apps) cfg.apps.push_back(app_of(a));
  for (const auto& v : m.volumes) cfg.volumes.push_back(volume_of(v));
  if (cfg.apps.empty()) throw Error("pod manifest: no apps");
  cfg.runtime = runtime_of(contract::parse_runtime(runtime_json));
  for (auto& a : cfg.apps) a.metadata_url = cfg.runtime.metadata_url;
  return cfg;
}

PodConfig load_config(int pod_dirfd) {
  return parse_config(read_file_at(pod_dirfd, poddir::kManifest),
                      try_read_file_at(pod_dirfd, poddir::kRuntime).value_or(""));
}

}  // namespace pod::init
