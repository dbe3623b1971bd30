// What the pod init reads from /pod: the reified pod manifest (`pod`) and the
// run-time options (`runtime.json`), parsed into plain structs once.
#pragma once
#include <sys/types.h>

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "isolators/isolators.hpp"

namespace pod::init {

struct Volume {
  std::string name;
  std::string kind;  // "host" or "empty"
  bool read_only = false;
  bool recursive = true;  // kind=host: bind its submounts too
  mode_t mode = 0755;  // kind=empty
  uid_t uid = 0;
  gid_t gid = 0;
};

struct Mount {
  std::string volume;
  std::string path;  // absolute, inside the app
  bool read_only = false;
};

struct App {
  std::string name;
  std::vector<std::string> exec;
  // appc event handlers (image manifest app.eventHandlers); empty = none.
  std::vector<std::string> pre_start, post_stop;
  std::string user = "0", group = "0";
  std::vector<gid_t> supplementary_gids;
  std::string working_dir = "/";
  std::vector<std::pair<std::string, std::string>> environment;
  std::string metadata_url;  // the pod's, when registered with the metadata service
  std::vector<Mount> mounts;
  bool read_only_rootfs = false;
  bool no_new_privs = true;
  // The capability bounding set (CAP_* numbers).
  std::vector<int> capabilities;
  isolators::Isolators iso;  // the app's isolators, validated
  // Default protections turned off (runtime.json insecureOptions).
  bool keep_all_capabilities = false, default_seccomp = true, mask_paths = true;
  // Apps this one starts after (annotation pod/after, contract/apporder.hpp);
  // it is stopped before them.
  std::vector<std::string> after;
  // Those of them it waits for to be ready (NAME:ready): their READY=1.
  std::vector<std::string> after_ready;
};

struct HostEntry {
  std::string ip, host;
};

struct Runtime {
  std::string net = "host";
  std::string hostname;
  std::vector<std::string> dns;  // {"host"}: the host's resolv.conf as it is
  std::vector<std::string> dns_search, dns_options;
  std::vector<HostEntry> hosts_entries;
  bool interactive = false;
  bool attach = false;  // app output to the console (pod run on a terminal) instead of logs/<app>.log
  bool debug = false;
  int stop_timeout_s = 10;  // SIGTERM -> SIGKILL
  std::string metadata_url;  // AC_METADATA_URL of every app and event handler ("" = none)
};

struct PodConfig {
  std::vector<App> apps;
  // A sandbox (annotation pod/sandbox): it may have no apps, and it runs
  // until it is stopped, whatever its apps do (Documentation/pod-lifecycle.md).
  bool sandbox = false;
  std::vector<Volume> volumes;
  Runtime runtime;

  const Volume* volume(const std::string& name) const;
  const App* app(const std::string& name) const;
};

// The default bounding set: appc's and Docker's (CHOWN DAC_OVERRIDE FSETID
// FOWNER KILL MKNOD NET_RAW NET_BIND_SERVICE SETUID SETGID SETPCAP SETFCAP
// SYS_CHROOT AUDIT_WRITE; Documentation/isolation.md).
const std::vector<int>& default_capabilities();

PodConfig parse_config(const std::string& manifest_json, const std::string& runtime_json);
// Reads /pod/pod and /pod/runtime.json (runtime.json may be missing).
// The stage1's AC_METADATA_URL for the apps when runtime.json's metadataURL
// is not reachable as is from where the pod runs (stage1-kvm's user-mode
// network: the guest's loopback is not the host's).
inline constexpr const char* kMetadataUrlEnv = "POD_INIT_METADATA_URL";
PodConfig load_config(int pod_dirfd);

}  // namespace pod::init
