// Finding a stage1 and calling its entrypoints (Documentation/stage1-abi.md).
#pragma once
#include <nlohmann/json.hpp>
#include <functional>
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
inline constexpr const char* kAnnKill = "pod/stage1/kill";
inline constexpr const char* kAnnPause = "pod/stage1/pause";
inline constexpr const char* kAnnResume = "pod/stage1/resume";
inline constexpr const char* kAnnStats = "pod/stage1/stats";
inline constexpr const char* kAnnAppOps = "pod/stage1/app-ops";  // apps in a running pod (stage1-abi.md)
// "true": the pod init records each app's READY=1 and waits for it (--after NAME:ready)
inline constexpr const char* kAnnAppReady = "pod/stage1/app-ready";
// "true": app-ops add mounts the host volumes an app brings to the running pod (AppSpec::volumes)
// The exit status of a pause entrypoint that refused without freezing anything (its reason on stderr):
// stage0 then drops the paused mark rather than trying to thaw.
inline constexpr int kPauseRefused = 3;
inline constexpr const char* kAnnAppVolumes = "pod/stage1/app-volumes";
// `shared`: the apps use the network namespace stage0 sees (the CNI netns file, else the init's).
inline constexpr const char* kAnnNetns = "pod/stage1/netns";
inline constexpr const char* kAnnVersion = "pod/stage1/interface-version";
inline constexpr const char* kAnnFlavor = "pod/stage1/flavor";

struct Entrypoints {
  std::string run, enter, stop, gc;  // absolute paths inside the stage1 rootfs ("" = absent)
  std::string kill, pause, resume, stats;
  std::string app_ops;
  int interface_version = 0;
  std::string flavor;
};


// Read the entrypoints from a stage1 image manifest; errors name the missing annotation.
Entrypoints parse_entrypoints(const nlohmann::json& image_manifest);

// Which stage1 image to use. At most one of path/name/hash/flavor is set by
// flags; otherwise $POD_STAGE1_PATH, $POD_STAGE1_FLAVOR, else the configured
// default flavour (flavors.hpp).
struct Selection {
  std::string path;    // an ACI file (or URL) to fetch
  std::string name;    // an image name in the store
  std::string hash;    // an image ID (prefix) in the store
  std::string flavor;  // a flavour name from stage1.json
};

// Host path of an entrypoint for an existing pod: inside the stage1 tree
// (overlay mode: the pod's stage1 rootfs exists only in the pod's mount
// namespace) or the pod's own copy (copy mode).
std::string entrypoint_path(const Pod& pod, const std::string& ep);
Entrypoints pod_entrypoints(const Pod& pod);

// The teardown gc and rm run for a pod: its stage1's gc entrypoint (nothing
// when the pod never got a stage1 or its stage1 has no gc entrypoint).
std::function<void(Pod&)> teardown(bool debug);

// Run an entrypoint as a child with cwd = pod dir and wait; returns its exit
// status (128+N when killed by signal N). Throws when it cannot be executed.
int call(const Pod& pod, const std::string& ep, const std::vector<std::string>& args, bool quiet_stdout = false);
// The same, with the entrypoint's stdout returned (its stderr passes through).
// `err` (when given) gets what the entrypoint wrote on stderr instead of our stderr.
std::pair<int, std::string> call_output(const Pod& pod, const std::string& ep, const std::vector<std::string>& args,
                                        std::string* err = nullptr);
// The entrypoint `ep` of the pod's stage1 ("what": the annotation, for the error when it has none).
std::string required_entrypoint(const Pod& pod, std::string Entrypoints::*ep, const char* what);
// exec an entrypoint in place of this process (run, enter). Never returns.
[[noreturn]] void exec(const Pod& pod, const std::string& ep, const std::vector<std::string>& args,
                       const std::vector<std::string>& extra_env);
// Same with an explicit host path of the entrypoint binary.
[[noreturn]] void exec_path(const Pod& pod, const std::string& path, const std::vector<std::string>& args,
                            const std::vector<std::string>& extra_env);

}  // namespace pod::stage1
