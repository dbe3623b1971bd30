// $P/runtime.json: the run-time options of a pod (Documentation/stage1-abi.md,
// "run"), typed, with one parser that every stage1 and the pod init use.
// Compiled into the static pod init too.
#pragma once
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "contract/manifest.hpp"

namespace pod::contract {

struct HostEntry {
  std::string ip, host;
  bool operator==(const HostEntry&) const = default;
};

// A port published on the host through a CNI network's portmap plugin.
struct PortMapping {
  std::string host_ip;  // "" = every address
  uint16_t host_port = 0, pod_port = 0;
  std::string protocol = "tcp";  // tcp | udp
  std::string name;              // the app port's name for --port NAME:HOSTPORT, "" for --publish
  bool operator==(const PortMapping&) const = default;
};

// A CNI network the pod joins (Documentation/networking.md), resolved and
// validated by stage0 at prepare time: the stage1 runs exactly this.
struct NetworkAttachment {
  std::string name;             // the network's name
  std::string ifname;           // the interface in the pod (eth0, eth1, ...)
  std::string args;             // CNI_ARGS, "K=V;K2=V2" ("" = none)
  std::string source;           // the file it came from, or "built-in"
  nlohmann::json conflist;      // the CNI conflist as resolved
  std::vector<PortMapping> ports;  // the portMappings this network's portmap gets
  bool operator==(const NetworkAttachment&) const = default;
};

// A user-mode network of a rootless pod (Documentation/rootless.md): pasta(1)
// connects the pod's own network namespace to the host's, without root.
inline constexpr const char* kNetPasta = "pasta";

struct Runtime {
  // host | none | pasta | the --net value naming CNI networks (then `networks` lists them)
  std::string net = "host";
  std::vector<PortMapping> publish;  // net pasta: the host ports pasta forwards into the pod
  // A rootless pod: stage0 runs the stage1 in a user namespace it made (Documentation/rootless.md), so
  // the stage1 makes no cgroups, device nodes or host mounts.
  bool rootless = false;
  // --private-users (Documentation/isolation.md): the pod's user namespace maps its ids 0..count-1 to the
  // host's base..base+count-1 (uid and gid alike); count 0 = none. stage0 allocated the range and
  // mounted the pod's trees idmapped; the stage1 makes the namespace.
  // chown_pod_dir: the data dir's filesystem has no idmapped mounts, so stage0 gave the pod dir (and the
  // pod's own copies of its trees) the pod's ids: the stage1 binds it at /pod as it is, not idmapped.
  struct PrivateUsers {
    uint32_t base = 0, count = 0;
    bool chown_pod_dir = false;
    // The stage1 binds the pod dir at /pod through an idmapped mount.
    bool idmaps_pod_dir() const { return count && !chown_pod_dir; }
    bool operator==(const PrivateUsers&) const = default;
  } private_users;
  std::vector<NetworkAttachment> networks;
  std::vector<std::string> dns_search, dns_options;  // --dns-search, --dns-opt
  std::string hostname;
  std::vector<std::string> dns;
  std::vector<HostEntry> hosts;
  bool interactive = false;
  bool attach = false;  // pod run's stdout is a terminal: the apps write to it directly
  bool debug = false;
  // sd_notify readiness: none | started | app (Documentation/systemd.md).
  std::string notify_ready = "started";
  std::vector<std::string> notify_apps;  // "app" mode: the apps that get a NOTIFY_SOCKET ([] = every app)
  int stop_timeout_s = 10;               // SIGTERM -> SIGKILL
  // --stage1-opt NAME=VALUE, validated against the options the stage1 image
  // declares (pod/stage1/options); the stage1 reads them, stage0 does not.
  std::map<std::string, std::string> stage1_options;
  // Default protections the user turned off (--insecure-options): any of
  // "seccomp", "capabilities", "paths" (Documentation/isolation.md).
  std::vector<std::string> insecure_options;
  bool insecure(const std::string& what) const;
  // --mds-register: the pod's AC_METADATA_URL (<service>/<uuid>/<token>); "" = not registered.
  std::string metadata_url;
  bool operator==(const Runtime&) const = default;
};

Runtime parse_runtime(const std::string& text);  // "" = all defaults
Runtime runtime_from_json(const nlohmann::json& j);
nlohmann::json to_json(const Runtime& r);
nlohmann::json to_json(const PortMapping& p);
std::string serialize(const Runtime& r);

// A stage1 option's value, or `def` when not given.
std::string stage1_option(const Runtime& r, const std::string& name, const std::string& def);

// sd_notify readiness as runtime.json asks: the mode and, in "app" mode, the
// apps that get a NOTIFY_SOCKET of their own (notifyApps, or every app of the
// pod when that is empty). Names not in the pod manifest are errors.
struct NotifyPlan {
  std::string mode = "none";
  std::vector<std::string> apps;
};
NotifyPlan notify_plan(const Runtime& r, const PodManifest& m);

}  // namespace pod::contract
