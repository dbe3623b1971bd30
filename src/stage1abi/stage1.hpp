// Finding a stage1 and calling its entrypoints (Documentation/stage1-abi.md).
#pragma once
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace pod {
class Pod;
}

namespace pod::stage1 {

inline constexpr int kInterfaceVersion = 1;
inline constexpr const char* kAnnRun = "pod/stage1/run";
inline constexpr const char* kAnnEnter = "pod/stage1/enter";
inline constexpr const char* kAnnStop = "pod/stage1/stop";
inline constexpr const char* kAnnGc = "pod/stage1/gc";
inline constexpr const char* kAnnVersion = "pod/stage1/interface-version";
inline constexpr const char* kAnnFlavor = "pod/stage1/flavor";

struct Entrypoints {
  std::string run, enter, stop, gc;  // absolute paths inside the stage1 rootfs ("" = absent)
  int interface_version = 0;
  std::string flavor;
};

// Read the entrypoints from a stage1 image manifest; errors name the missing annotation.
Entrypoints parse_entrypoints(const nlohmann::json& image_manifest);

// Which stage1 image to use. At most one of path/name/hash/flavor is set by
// flags; otherwise $POD_STAGE1_PATH, $POD_STAGE1_FLAVOR, else the nspawn flavour.
struct Selection {
  std::string path;    // an ACI file (or URL) to fetch
  std::string name;    // an image name in the store
  std::string hash;    // an image ID (prefix) in the store
  std::string flavor;  // nspawn | kvm: the ACI shipped next to the pod binary
};
// The ACI file shipped for a flavour: next to the binary in the build tree
// (build/stage1/…) or in the installed libexec dir.
std::string shipped_stage1_path(const std::string& flavor);

// Files stage0 writes in the pod dir about its stage1.
inline constexpr const char* kStage1Dir = "stage1";
inline constexpr const char* kStage1TreeFile = "stage1/tree";  // absolute path of the rendered stage1 tree

// Host path of an entrypoint for an existing pod: inside the stage1 tree
// (overlay mode: the pod's stage1 rootfs exists only in the pod's mount
// namespace) or the pod's own copy (copy mode).
std::string entrypoint_path(const Pod& pod, const std::string& ep);
Entrypoints pod_entrypoints(const Pod& pod);

// The names of the pod manifest's apps, in manifest order (entries without
// a string name are skipped).
std::vector<std::string> app_names(const nlohmann::json& pod_manifest);

// sd_notify readiness as runtime.json asks (Documentation/systemd.md): the
// mode ("none", "started" or "app") and, in "app" mode, the apps that get a
// NOTIFY_SOCKET of their own: runtime.json notifyApps, every app of the pod
// when that is empty. Names not in the pod manifest are errors.
struct NotifyPlan {
  std::string mode = "none";
  std::vector<std::string> apps;
};
NotifyPlan notify_plan(const nlohmann::json& runtime, const nlohmann::json& pod_manifest);

// Run an entrypoint as a child with cwd = pod dir and wait; returns its exit status.
int call(const Pod& pod, const std::string& ep, const std::vector<std::string>& args, bool quiet_stdout = false);
// exec an entrypoint in place of this process (run, enter). Never returns.
[[noreturn]] void exec(const Pod& pod, const std::string& ep, const std::vector<std::string>& args,
                       const std::vector<std::string>& extra_env);
// Same with an explicit host path of the entrypoint binary.
[[noreturn]] void exec_path(const Pod& pod, const std::string& path, const std::vector<std::string>& args,
                            const std::vector<std::string>& extra_env);

}  // namespace pod::stage1
