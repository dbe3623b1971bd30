// Value types of the public API: pod states, what status/list report, images.
#pragma once
#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace pod {

// A pod's state: the state directory it is in and whether its lock is held
// (Documentation/pod-lifecycle.md).
enum class PodState {
  Embryo,
  Preparing,       // prepare/ + locked
  AbortedPrepare,  // prepare/ + unlocked
  Prepared,        // prepared/
  Running,         // run/ + locked
  Exited,          // run/ + unlocked
  ExitedGarbage,   // exited-garbage/ + unlocked
  ExitedDeleting,  // exited-garbage/ + locked
  Garbage,         // garbage/ + unlocked
  Deleting,        // garbage/ + locked
  Gone,            // no longer in any state dir
};
// "embryo", "preparing", "running", …: the names `pod list` and `pod status` print.
const char* state_name(PodState s);
struct PodStatus;
// The same for a pod's status: "paused" for a running pod that is paused.
const char* state_name(const PodStatus& s);

using TimePoint = std::chrono::system_clock::time_point;

// How a pod's hooks of one point (prestart, poststart, poststop) ran last:
// the last one that ran (the first that failed, if one did). Also how an
// app's appc event handler ran (its output: the last 4 KiB).
struct HookOutcome {
  int exit_code = 0;
  bool timed_out = false;
  std::string output;  // its stdout and stderr (at most 64 KiB)
};

struct AppExit {
  int exit_code = 0;           // 128+signal when killed by a signal
  std::optional<int> signal;
  bool oom_killed = false;     // killed by the OOM killer (its memory limit)
  // Its appc event handlers, when they ran; a failed pre-start is the app's
  // exit code (the app did not run).
  std::optional<HookOutcome> pre_start, post_stop;
  std::string error;  // why it failed without running (e.g. its --after NAME:ready app exited first)
};

// What an app said over sd_notify (Documentation/systemd.md, "Readiness"); only
// for apps that get a NOTIFY_SOCKET and have sent something.
struct AppReadyInfo {
  bool ready = false;
  std::optional<TimePoint> ready_at;
  std::string status;  // its last STATUS=
};

struct AppStatusInfo {
  std::string name;
  std::string image_name;  // name[:version]
  std::string image_id;
  std::optional<AppExit> exit;  // once the app has exited
  bool notifies = false;        // it has a NOTIFY_SOCKET (--notify-ready=app): `readiness` tells
  std::optional<AppReadyInfo> readiness;
  // The isolators it runs with (image's and flags', Documentation/isolation.md):
  // name and JSON value.
  std::vector<std::pair<std::string, std::string>> isolators;
  // Those of them pod does not apply: "NAME: why" ("unknown isolator", "not implemented").
  std::vector<std::string> ignored_isolators;
};

// A network a pod joins (Documentation/networking.md) and what it got there.
struct PodNetworkInfo {
  std::string name, ifname;
  std::string state;               // adding | added | deleted; "" = not joined (yet)
  std::vector<std::string> ips;    // CIDR, e.g. 172.16.28.5/24
  std::vector<std::string> ports;  // published: "[HOSTIP:]HOSTPORT->PODPORT/tcp"
  std::string check;               // by check_pod_networks: "ok", or why CNI CHECK failed; "" = not checked
};

struct PodStatus {
  std::string uuid;
  PodState state = PodState::Gone;
  std::optional<TimePoint> created, prepared, started, gc_marked;
  std::optional<int> pid;       // the pod's init (or VMM) while running
  bool paused = false;          // running but frozen by pause_pod (shown as state "paused")
  std::map<std::string, HookOutcome> hooks;  // per point that ran
  std::vector<AppStatusInfo> apps;
  std::string failure;          // why the pod failed, when it did
  std::string flavor;           // the stage1 flavour, as the stage1 declares it
  std::string manifest_error;   // set when the pod manifest is missing or unreadable
  std::string net;              // host, none, or the CNI networks' --net value
  std::vector<PodNetworkInfo> networks;
  std::string network_error;    // set when runtime.json or net.json is unreadable
  std::string rootfs_mode;      // overlay | copy (how the apps' roots are made)
  std::string user_namespace;   // a rootless pod's uid map, "0->1000+1, 1->100000+65536"; "" = root's pod
};

// One app's outcome in an operation on several apps (kill): ok, or why not.
struct AppOutcome {
  std::string app;
  bool ok = false;
  std::string message;  // "signalled", "not running", …
};

// Usage counters, each present when the stage1 could measure it.
struct Usage {
  std::optional<uint64_t> cpu_ns, memory_bytes, pids;
  std::string source;  // where they come from: "cgroup", "processes", "vmm", "guest-processes"
};

struct AppStats {
  std::string name;
  bool running = false;
  std::optional<int> exit_code;
  Usage usage;
};

// What CRI's ContainerStats needs, per app and for the pod as a whole.
struct PodStats {
  std::string uuid;
  TimePoint taken{};
  bool paused = false;
  Usage pod;
  std::vector<AppStats> apps;
};

struct ImageSummary {
  std::string id;    // sha512-…
  std::string name;
  std::map<std::string, std::string> labels;
  TimePoint imported{};
  TimePoint last_used{};
  uint64_t size = 0;  // bytes in the store
  std::string source;  // where it was fetched from
  std::vector<std::string> refs;  // an OCI image: every REGISTRY/NAME:TAG (or NAME@DIGEST) it was fetched as
  std::string manifest_digest;    // an OCI image: the digest (sha256:…) of the manifest it was fetched by
};

// An OpenPGP key trusted for image signatures (Documentation/trust.md), or one
// read from a file for review before trusting it.
struct TrustedKey {
  std::string fingerprint;          // upper-case hex of the primary key
  std::vector<std::string> uids;    // "Name <mail>"
  std::optional<TimePoint> expires; // none: never
  bool expired = false, revoked = false;
  std::string prefix;               // the image name prefix it is trusted for ("" with root)
  bool root = false;                // trusted for every image name
  bool system = false;              // in the system store (read-only to pod), else the data dir's
  std::string path;                 // the key file in its store
};

// What this host and this pod build support (`pod version`).
struct HostFeatures {
  std::string version;
  std::string default_flavor;
  std::map<std::string, std::string> flavors;  // stage1 flavour -> image file (stage1.json)
  std::vector<std::string> installed_flavors;  // those whose image file is there
  std::string cgroup_mode;                     // "v1", "v2" or "hybrid"
  bool kvm_device = false;                     // /dev/kvm opens and answers KVM_GET_API_VERSION (whether a
                                               // guest really boots is the kvm flavour's probe)
  std::string kvm_detail;                      // why not, when not
  bool overlay = false;                        // overlayfs is in the kernel or a module of it
  bool user_namespaces = false;                // the kernel allows new user namespaces
};

}  // namespace pod
