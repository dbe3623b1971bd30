#include "config.hpp"

#include <linux/capability.h>

#include <algorithm>
#include <cstdlib>

#include "contract/apporder.hpp"
#include "contract/jsonread.hpp"
#include "contract/manifest.hpp"
#include "contract/poddir.hpp"
#include "contract/runtime.hpp"
#include "log.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"

namespace pod::init {

namespace {

App app_of(const contract::RuntimeApp& ra) {
  App app;
  app.name = ra.name;
  app.read_only_rootfs = ra.read_only_rootfs;
  app.exec = ra.app.exec;
  for (const auto& h : ra.app.event_handlers) (h.name == "pre-start" ? app.pre_start : app.post_stop) = h.exec;
  app.user = ra.app.user;
  app.group = ra.app.group;
  for (uint32_t g : ra.app.supplementary_gids) app.supplementary_gids.push_back(static_cast<gid_t>(g));
  app.working_dir = ra.app.working_directory.empty() ? "/" : ra.app.working_directory;
  for (const auto& e : ra.app.environment) app.environment.emplace_back(e.name, e.value);
  std::vector<std::string> warnings;
  app.iso = isolators::parse(ra.app.isolators, "app " + ra.name, &warnings);
  for (const auto& w : warnings) log_warn(w);
  app.no_new_privs = app.iso.no_new_privs.value_or(true);
  if (app.iso.caps_retain) {
    app.capabilities = *app.iso.caps_retain;
  } else {
    for (int c : default_capabilities())
      if (!app.iso.caps_remove || std::find(app.iso.caps_remove->begin(), app.iso.caps_remove->end(), c) == app.iso.caps_remove->end())
        app.capabilities.push_back(c);
  }
  for (const auto& m : ra.mounts) app.mounts.push_back({m.volume, m.path, m.read_only});
  app.after = contract::app_after(ra);
  app.after_ready = contract::app_after_ready(ra);
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

const std::vector<int>& default_capabilities() {
  static const std::vector<int> set = {CAP_AUDIT_WRITE, CAP_CHOWN,  CAP_DAC_OVERRIDE,     CAP_FSETID, CAP_FOWNER,
                                       CAP_KILL,        CAP_MKNOD,  CAP_NET_RAW,          CAP_NET_BIND_SERVICE,
                                       CAP_SETUID,      CAP_SETGID, CAP_SETPCAP,          CAP_SETFCAP, CAP_SYS_CHROOT};
  return set;
}

const Volume* PodConfig::volume(const std::string& name) const { return contract::find_named(volumes, name); }

const App* PodConfig::app(const std::string& name) const { return contract::find_named(apps, name); }

PodConfig parse_config(const std::string& manifest_json, const std::string& runtime_json) {
  const contract::PodManifest m = contract::parse_pod_manifest(manifest_json);
  PodConfig cfg;
  for (const auto& a : m.apps) cfg.apps.push_back(app_of(a));
  for (const auto& v : m.volumes) cfg.volumes.push_back(volume_of(v));
  cfg.sandbox = contract::is_sandbox(m);
  if (cfg.apps.empty() && !cfg.sandbox) throw Error("pod manifest: no apps");
  const contract::Runtime rt = contract::parse_runtime(runtime_json);
  cfg.runtime = runtime_of(rt);
  for (auto& a : cfg.apps) {
    a.keep_all_capabilities = rt.insecure("capabilities");
    a.default_seccomp = !rt.insecure("seccomp");
    a.mask_paths = !rt.insecure("paths");
  }
  for (auto& a : cfg.apps) a.metadata_url = cfg.runtime.metadata_url;
  return cfg;
}

PodConfig load_config(int pod_dirfd) {
  PodConfig cfg = parse_config(read_file_at(pod_dirfd, poddir::kManifest),
                               try_read_file_at(pod_dirfd, poddir::kRuntime).value_or(""));
  if (const char* url = ::getenv(kMetadataUrlEnv); url && *url && !cfg.runtime.metadata_url.empty()) {
    cfg.runtime.metadata_url = url;
    for (auto& a : cfg.apps) a.metadata_url = url;
  }
  return cfg;
}

}  // namespace pod::init
