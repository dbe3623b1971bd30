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
  bool readonly_rootfs = false;
};

// Which stage1 runs the pod: at most one of path/name/hash/flavor; none = the
// configured default flavour.
struct Stage1Spec {
  std::string path;    // an ACI file or URL
  std::string name;    // an image name in the store
  std::string hash;    // an image ID (prefix) in the store
  std::string flavor;  // a flavour name from stage1.json ("nspawn", "kvm", …)
  std::map<std::string, std::string> options;  // --stage1-opt NAME=VALUE, as the stage1 declares them
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
};

// A host command run at a point of the pod's life (OCI-style hooks): its
// state JSON on stdin (Documentation/cli.md, --hook).
struct HookSpec {
  std::string when;     // prestart | poststart | poststop
  std::string command;  // run by /bin/sh -c on the host
};

struct PodSpec {
  std::vector<AppSpec> apps;
  std::vector<VolumeSpec> volumes;
  std::string net = "host";  // host | none
  std::string hostname;      // "" = pod-<uuid prefix>
  std::vector<std::string> dns;
  std::vector<std::pair<std::string, std::string>> hosts;  // ip, hostname for /etc/hosts
  bool interactive = false;
  // sd_notify readiness: none | started | app; "" = app when an image
  // declares appc.io/executor/supports-systemd-notify, else started.
  std::string notify_ready;
  bool debug = false;
  Stage1Spec stage1;
  bool no_overlay = false;      // copy image trees instead of overlayfs
  FetchOptions fetch;           // how the apps' images are fetched (the stage1's never need a signature)
  std::string uuid_file_save;   // write the UUID here as soon as the pod exists
  std::vector<HookSpec> hooks;  // in the order given, per point
  std::chrono::milliseconds hook_timeout{30000};  // each hook's; then it is killed and counts as failed
};

}  // namespace pod
