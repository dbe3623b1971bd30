// Every path of a pod directory $P, in one place (Documentation/stage1-abi.md,
// "The pod directory"). stage0, the stage1 entrypoints of every flavour, the
// kvm guest and the pod init all name pod files through these constants, so a
// file is spelled once. Paths are relative to $P unless they say otherwise.
#pragma once
#include <string>

namespace pod::poddir {

// --- written by stage0 ---------------------------------------------------
inline constexpr const char* kManifest = "pod";                // the reified pod manifest (contract/manifest.hpp)
inline constexpr const char* kRuntime = "runtime.json";        // run-time options (contract/runtime.hpp)
inline constexpr const char* kCreatedAt = "created-at";        // ns since the epoch
inline constexpr const char* kPreparedAt = "prepared-at";
inline constexpr const char* kStartedAt = "started-at";
inline constexpr const char* kGcMarkedAt = "gc-marked-at";     // when moved to exited-garbage
inline constexpr const char* kRootfsMode = "rootfs-mode";      // "overlay" or "copy"
// A rootless pod's (Documentation/rootless.md): its user namespace's uid map, "0->1000+1, 1->100000+65536".
inline constexpr const char* kUserNamespace = "user-namespace";
inline constexpr const char* kStage1Dir = "stage1";
inline constexpr const char* kStage1Manifest = "stage1/manifest";  // the stage1 image manifest
inline constexpr const char* kStage1Tree = "stage1/tree";      // path of the rendered stage1 tree (overlay mode)
inline constexpr const char* kStage1Rootfs = "stage1/rootfs";  // overlay mount point or a copy
inline constexpr const char* kTreesDir = "trees";              // trees/<tree-id>: keeps image gc off them
inline constexpr const char* kAppsDir = "apps";                // apps/<app>/{manifest,tree}
inline constexpr const char* kOverlayDir = "overlay";          // overlay/<name>/{upper,work}
inline constexpr const char* kVolumesDir = "volumes";          // volumes/<name>/: kind=empty backing dirs
inline constexpr const char* kPaused = "paused";               // while running: the pod is (being) paused
inline constexpr const char* kHooks = "hooks.json";            // --hook commands and their timeout (run/hooks.hpp)
inline constexpr const char* kHookResultsDir = "hooks";        // hooks/<when>: the last run's outcome, JSON
inline constexpr const char* kControlLock = "control.lock";    // serializes pause/resume/kill/stop
inline constexpr const char* kAppsLock = "apps.lock";          // serializes the app operations of a running pod; gc takes it

// --- written by a stage1 -------------------------------------------------
inline constexpr const char* kPid = "pid";                     // pid of the pod's init (or the VMM)
inline constexpr const char* kReady = "ready";                 // every app has been started
inline constexpr const char* kAppStatusDir = "appstatus";      // appstatus/<app>: the app's exit record
inline constexpr const char* kAppTimesDir = "apptimes";        // apptimes/<app>: when it started and ended
inline constexpr const char* kAppReadyDir = "appready";      // appready/<app>: its sd_notify readiness, JSON
inline constexpr const char* kLogsDir = "logs";                // logs/<app>.log
inline constexpr const char* kLogTimesDir = "logtimes";        // logtimes/<app>: when its log's lines arrived (logindex.hpp)
inline constexpr const char* kFailure = "failure";             // one line: why the pod failed
inline constexpr const char* kStateDir = "stage1-state";       // private to the stage1
inline constexpr const char* kExitStatus = "stage1-state/exit-status";  // the pod init's pod exit status

// --- inside the stage1 root (absolute, as the pod init sees them) -------
inline constexpr const char* kPodInRoot = "/pod";              // $P, bind-mounted
inline constexpr const char* kHostVolumesInRoot = "/host-volumes";  // /host-volumes/<name>: kind=host sources
inline constexpr const char* kStage2InRoot = "opt/stage2";     // relative to the stage1 rootfs

// opt/stage2/<app>/rootfs: an app's root, relative to the stage1 rootfs.
inline std::string app_rootfs(const std::string& app) { return std::string(kStage2InRoot) + "/" + app + "/rootfs"; }
// stage1/rootfs/opt/stage2/<app>/rootfs: the same relative to $P.
inline std::string app_rootfs_in_pod(const std::string& app) { return std::string(kStage1Rootfs) + "/" + app_rootfs(app); }
inline std::string app_manifest(const std::string& app) { return std::string(kAppsDir) + "/" + app + "/manifest"; }
// The app's image as overlayfs lower dirs (rootfs dirs of store trees), one per line, top first.
inline std::string app_tree(const std::string& app) { return std::string(kAppsDir) + "/" + app + "/tree"; }
inline std::string app_status(const std::string& app) { return std::string(kAppStatusDir) + "/" + app; }
inline std::string app_times(const std::string& app) { return std::string(kAppTimesDir) + "/" + app; }
inline std::string app_ready(const std::string& app) { return std::string(kAppReadyDir) + "/" + app; }
inline std::string app_log(const std::string& app) { return std::string(kLogsDir) + "/" + app + ".log"; }
inline std::string app_log_times(const std::string& app) { return std::string(kLogTimesDir) + "/" + app; }
// logs/<app>.<handler>.log: the output of the app's last pre-start/post-stop event handler run.
inline std::string handler_log(const std::string& app, const std::string& handler) {
  return std::string(kLogsDir) + "/" + app + "." + handler + ".log";
}
inline std::string empty_volume(const std::string& name) { return std::string(kVolumesDir) + "/" + name; }

}  // namespace pod::poddir
