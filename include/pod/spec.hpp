// What a caller asks for when it creates a pod: the apps (an image each, with
// overrides), the volumes, and the pod's run-time options. libpod turns a
// PodSpec into the pod's reified appc pod manifest (Documentation/api.md).
#pragma once
#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace pod {

struct VolumeSpec {
  std::string name;
  std::string kind;        // "host" | "empty"
  std::string source;      // host: absolute path on the host
  bool read_only = false;
  bool recursive = true;   // host: bind submounts too
  std::string mode = "0755";  // empty: octal mode of the backing dir
  uint32_t uid = 0, gid = 0;  // empty: its owner
};

struct MountSpec {
  std::string volume;
  std::string target;  // absolute path in the app
};

// Per-app isolation flags as given (`--memory=32M`, `--cpu=500m`, …; unset =
// not given): they become appc isolators replacing the image's
// (Documentation/isolation.md).
struct IsolatorSpec {
  std::optional<std::string> memory, cpu, cpu_shares, pids_limit, caps_retain, caps_remove, seccomp, oom_score_adj;
};

struct AppSpec {
  std::string image;  // a name[:version], an image ID, a file path or an URL
  std::string name;   // "" = derived from the image name
  std::optional<std::string> exec;  // replaces the image's program
  std::vector<std::string> args;    // replace the image's arguments when args_given
  bool args_given = false;
  std::vector<std::pair<std::string, std::string>> set_env;
  std::vector<std::string> env_files;  // files of NAME=VALUE lines
  bool inherit_env = false;            // the caller's environment first
  std::optional<std::string> user, group, working_dir;
  std::vector<MountSpec> mounts;
  // add_app only: volumes the running pod gains with this app, for its `mounts` (and no other app's) to name:
  // kind=host (a file or a directory; read_only and recursive as for PodSpec::volumes, a read-only one
  // read-only all the way down) or kind=empty. Their names must be new to the pod; remove_app drops them.
  // Propagation is private (nothing mounted later on either side is seen by the other).
  std::vector<VolumeSpec> volumes;
  bool readonly_rootfs = false;
  IsolatorSpec isolators;
  // Apps of the pod this one starts after (and is stopped before): --after NAME.
  std::vector<std::string> after;
  // The app's annotations in the pod manifest (names: AC identifiers, e.g. example.com/key).
  std::vector<std::pair<std::string, std::string>> annotations;
  // add_app only: a host file (absolute path; created with its directories) the pod init also writes the
  // app's output to, in the Kubernetes CRI log format (Documentation/kubernetes.md, "Container logs").
  std::string cri_log;
};

// Which stage1 runs the pod: at most one of path/name/hash/flavor; none = the
// configured default flavour.
struct Stage1Spec {
  std::string path;    // an ACI file or URL
  std::string name;    // an image name in the store
  std::string hash;    // an image ID (prefix) in the store
  std::string flavor;  // a flavour name from stage1.json ("nspawn", "kvm", …)
  std::map<std::string, std::string> options;  // --stage1-opt NAME=VALUE, as the stage1 declares them
  // A flavour's image instead of the one stage1.json names (flavour -> ACI file); used whichever way the
  // flavour is chosen (`flavor`, $POD_STAGE1_FLAVOR, the default). `pod` fills it from stage1.images.
  std::map<std::string, std::string> flavor_images;
};

// How images are fetched (pod fetch, and the images of pod run/prepare).
struct FetchOptions {
  bool insecure_image = false;  // skip signature checks (--insecure-options=image)
  bool warn_unverified = true;  // with insecure_image: say so on stderr for each image imported unchecked
  bool insecure_http = false;   // allow plain-http registries (--insecure-options=http)
  bool insecure_tls = false;    // accept any TLS certificate (--insecure-options=tls)
  bool allow_devices = false;   // accept device nodes in the image
  bool quiet = true;            // no progress line
  std::string platform;         // OS/ARCH[/VARIANT] picked from an image index; empty = linux/amd64
  // Limits on what a fetch accepts (--max-image-size, --max-image-entries,
  // images.* in pod.json; Documentation/configuration.md).
  uint64_t max_uncompressed = 0;  // bytes of the uncompressed image; 0 = no limit
  uint64_t max_entries = 0;       // entries in the image archive; 0 = the built-in ceiling (2,000,000)
  // Registry credentials (auth.json / docker config.json format) searched first; "" = only the usual
  // places ($REGISTRY_AUTH_FILE, $XDG_RUNTIME_DIR/containers/auth.json, ~/.docker/config.json).
  std::string registry_auth_file;
  // Credentials given by the caller for this fetch (base64 of user:password, as auth.json's "auth"), used
  // before any file: what a CRI PullImage carries. Never written anywhere.
  std::string registry_credentials;
};

// A host command run at a point of the pod's life (OCI-style hooks): its
// state JSON on stdin (Documentation/cli.md, --hook).
struct HookSpec {
  std::string when;     // prestart | poststart | poststop
  std::string command;  // run by /bin/sh -c on the host
};

struct PodSpec {
  // --pod-manifest FILE: an appc pod manifest whose apps, volumes, ports and
  // annotations are the pod's (then `apps`, `volumes` and `ports` must be empty).
  std::string pod_manifest;
  std::vector<AppSpec> apps;
  std::vector<VolumeSpec> volumes;
  // host | none | NAME[:CNI_ARGS][,NAME…] (CNI networks); "" = "default" when
  // the stage1 joins CNI networks, else host (Documentation/networking.md)
  std::string net;
  // CNI network dirs searched after /etc/pod/net.d and before <data dir>/net.d (networks.configDirs).
  std::vector<std::string> net_config_dirs;
  std::string hostname;      // "" = pod-<uuid prefix>
  std::vector<std::string> dns;  // name servers; {"host"} = the host's resolv.conf
  std::vector<std::string> dns_search, dns_options;
  std::vector<std::string> publish;  // [HOSTIP:]HOSTPORT:PODPORT[/tcp|udp]
  std::vector<std::string> ports;    // NAME:HOSTPORT, an app port of the image by name
  std::vector<std::pair<std::string, std::string>> hosts;  // ip, hostname for /etc/hosts
  // Register with the appc metadata service at this base URL (http://IPV4:PORT,
  // e.g. http://127.0.0.1:18112); "" = not registered. Documentation/metadata-service.md.
  std::string mds_register;
  bool interactive = false;
  // sd_notify readiness: none | started | app; "" = app when an image
  // declares appc.io/executor/supports-systemd-notify, else started.
  std::string notify_ready;
  bool debug = false;
  Stage1Spec stage1;
  bool no_overlay = false;      // copy image trees instead of overlayfs
  // --private-users: the pod runs in a user namespace with host ids of its own
  // (Documentation/isolation.md): "" = no, "auto" = a free range is picked,
  // "UID[:COUNT]" = that range (COUNT 65536 by default).
  std::string private_users;
  FetchOptions fetch;           // how the apps' images are fetched (the stage1's never need a signature)
  std::string uuid_file_save;   // write the UUID here as soon as the pod exists
  // --insecure-options for isolation: "isolators" (run with isolators the
  // stage1 cannot enforce, with a warning), "seccomp", "capabilities", "paths"
  // (turn the default protections off, with a warning).
  std::vector<std::string> insecure_isolation;
  // --strict-isolators: an isolator pod would ignore (unknown, not
  // implemented) fails the prepare instead of a warning.
  bool strict_isolators = false;
  // Per-app isolator defaults (the configuration's limits.*): each becomes the app's isolator when
  // neither the app's own flags (AppSpec::isolators) nor its image set that isolator.
  IsolatorSpec isolator_defaults;
  std::vector<HookSpec> hooks;  // in the order given, per point
  std::chrono::milliseconds hook_timeout{30000};  // each hook's; then it is killed and counts as failed
  // A sandbox: no apps (apps must be empty), running until it is stopped;
  // apps come and go with Runtime::add_app & co. Runtime::create_sandbox sets it.
  bool sandbox = false;
  // The pod's annotations in its manifest (names: AC identifiers).
  std::vector<std::pair<std::string, std::string>> annotations;
};

}  // namespace pod
