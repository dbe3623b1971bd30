// The reified appc pod manifest ($P/pod): the typed contract between stage0
// and every stage1 (Documentation/stage1-abi.md). stage0 builds and writes
// it; the stage1 entrypoints, the kvm host and guest and the pod init read it
// through parse_pod_manifest(), so there is one set of rules. Every manifest
// that to_json() writes reads back equal.
//
// Compiled into the static pod init too: depends on nlohmann_json, util/error
// and appc/names only.
#pragma once
#include <sys/types.h>

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace pod::contract {

inline constexpr const char* kPodManifestKind = "PodManifest";
inline constexpr const char* kAcVersion = "0.8.11";
inline constexpr uint32_t kMaxId = 4294967294u;  // largest uid/gid (4294967295 is "no id")

struct NameValue {
  std::string name, value;
  bool operator==(const NameValue&) const = default;
};

struct Isolator {
  std::string name;  // an appc isolator name: "resource/memory", "os/linux/capabilities-retain-set", …
  nlohmann::json value;
  bool operator==(const Isolator&) const = default;
};

struct MountPoint {
  std::string name, path;
  bool read_only = false;
  bool operator==(const MountPoint&) const = default;
};

struct Port {
  std::string name, protocol = "tcp";
  uint16_t port = 0;
  uint32_t count = 1;
  bool socket_activated = false;
  bool operator==(const Port&) const = default;
};

struct EventHandler {
  std::string name;  // "pre-start" or "post-stop"
  std::vector<std::string> exec;
  bool operator==(const EventHandler&) const = default;
};

// The appc "app" section: what to run and how, with stage0's overrides applied.
struct App {
  std::vector<std::string> exec;
  std::string user = "0", group = "0";
  std::vector<uint32_t> supplementary_gids;
  std::string working_directory;  // "" = "/"
  std::vector<NameValue> environment;
  std::vector<Isolator> isolators;
  std::vector<MountPoint> mount_points;
  std::vector<Port> ports;
  std::vector<EventHandler> event_handlers;
  bool operator==(const App&) const = default;
};

struct ImageRef {
  std::string name, id;
  std::vector<NameValue> labels;
  bool operator==(const ImageRef&) const = default;
};

// A volume mounted into an app.
struct Mount {
  std::string volume;
  std::string path;  // absolute, inside the app's root
  bool read_only = false;
  bool operator==(const Mount&) const = default;
};

struct RuntimeApp {
  std::string name;
  ImageRef image;
  App app;
  bool read_only_rootfs = false;
  std::vector<Mount> mounts;
  std::vector<NameValue> annotations;
  bool operator==(const RuntimeApp&) const = default;
};

enum class VolumeKind { Host, Empty };

struct Volume {
  std::string name;
  VolumeKind kind = VolumeKind::Empty;
  std::string source;     // host: absolute path on the host
  bool read_only = false;
  bool recursive = true;  // host: bind submounts too (false: MS_BIND without MS_REC)
  mode_t mode = 0755;     // empty: the backing dir's mode and owner
  uint32_t uid = 0, gid = 0;
  bool operator==(const Volume&) const = default;
};

// A pod-level port: an app port (by name) exposed on the host.
struct ExposedPort {
  std::string name;
  uint16_t host_port = 0;
  std::string host_ip;  // "" = every address
  bool operator==(const ExposedPort&) const = default;
};

struct PodManifest {
  std::string ac_version = kAcVersion;
  std::vector<RuntimeApp> apps;
  std::vector<Volume> volumes;
  std::vector<NameValue> annotations;
  std::vector<ExposedPort> ports;
  bool operator==(const PodManifest&) const = default;

  const RuntimeApp* app(const std::string& name) const;
  const Volume* volume(const std::string& name) const;
  std::vector<std::string> app_names() const;  // in manifest order
};

const char* to_string(VolumeKind k);

// The element of `v` whose .name is `name`, or nullptr.
template <class T>
const T* find_named(const std::vector<T>& v, const std::string& name) {
  for (const auto& x : v)
    if (x.name == name) return &x;
  return nullptr;
}

// Parse and validate $P/pod. Errors are pod::Error (kind Invalid) naming the
// field: "pod manifest: apps[0].app.supplementaryGIDs[0]: 4294967296 is out of range …".
PodManifest parse_pod_manifest(const std::string& text);
PodManifest pod_manifest_from_json(const nlohmann::json& j);
// Check what the readers check, on a manifest built in memory (stage0 does
// this before writing it). Throws like parse_pod_manifest.
void validate(const PodManifest& m);
nlohmann::json to_json(const PodManifest& m);
std::string serialize(const PodManifest& m);  // validated, pretty-printed, newline-terminated

// The "app" section alone, e.g. an image manifest's (`doc` names it in errors).
App app_from_json(const nlohmann::json& j, const std::string& doc, bool require_exec = true);
nlohmann::json to_json(const App& a);

// "0755" -> 0755; throws for anything that is not 1-4 octal digits.
mode_t parse_mode(const std::string& s, const std::string& what);
std::string format_mode(mode_t m);

}  // namespace pod::contract
