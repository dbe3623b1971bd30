// What the CRI knows of a sandbox or a container beyond pod's own records,
// kept in pod's records themselves: a pod annotation (pod.io/cri-sandbox) and
// an app annotation (pod.io/cri-container) holding the kubelet's metadata,
// labels and annotations as JSON. The server has no store of its own.
//
// A sandbox ID is the pod's UUID; a container ID is "<pod UUID>_<app name>"
// (neither a UUID nor an app name contains "_").
#pragma once
#include <chrono>
#include <map>
#include <optional>
#include <pod/pod.hpp>
#include <string>
#include <utility>
#include <vector>

namespace pod::cri {

inline constexpr const char* kAnnSandbox = "pod.io/cri-sandbox";
inline constexpr const char* kAnnContainer = "pod.io/cri-container";

struct SandboxMeta {
  std::string name, uid, ns;
  uint32_t attempt = 0;
  std::map<std::string, std::string> labels, annotations;
  std::string log_directory, runtime_handler;
};

struct ContainerMeta {
  std::string name;
  uint32_t attempt = 0;
  std::map<std::string, std::string> labels, annotations;
  std::string image;     // the image as the kubelet named it
  std::string log_path;  // the full path (the sandbox's log directory + the container's log path)
  int64_t created_at = 0;
};

std::string to_json(const SandboxMeta& m);
std::string to_json(const ContainerMeta& m);

// A CRI sandbox as read from its pod: its manifest's annotations.
struct Sandbox {
  PodStatus status;
  SandboxMeta meta;
  std::map<std::string, ContainerMeta> containers;  // app name -> its CRI metadata
};

// The sandbox of a pod; nullopt when the pod is no CRI sandbox (made by `pod run`, say) or is gone.
std::optional<Sandbox> read_sandbox(const pod::Runtime& rt, const PodStatus& st);
// By ID: NotFound errors name the sandbox.
Sandbox find_sandbox(const pod::Runtime& rt, const std::string& id);
// The same, nullopt when there is no such sandbox (for the idempotent calls).
std::optional<Sandbox> find_sandbox_if_any(const pod::Runtime& rt, const std::string& id);
// Every CRI sandbox of the data dir.
std::vector<Sandbox> list_sandboxes(const pod::Runtime& rt);

struct ContainerId {
  std::string uuid, app;
};
std::string container_id(const std::string& uuid, const std::string& app);
// A malformed ID is NotFound (the CRI's answer for an unknown container).
ContainerId parse_container_id(const std::string& id);
// A container's sandbox and CRI metadata; NotFound when either is unknown.
std::pair<Sandbox, ContainerMeta> find_container(const pod::Runtime& rt, const std::string& id);
// The ID of a container that is running, for the calls inside it (`rpc` names the call in the error):
// NotFound as find_container, Conflict (FAILED_PRECONDITION) when it is not running.
ContainerId running_container(const pod::Runtime& rt, const std::string& id, const std::string& rpc);
// An AC name for an app from the kubelet's container name and attempt.
std::string app_name_for(const std::string& name, uint32_t attempt);

int64_t to_ns(std::optional<TimePoint> t);
int64_t now_ns();

}  // namespace pod::cri
