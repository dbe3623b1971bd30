// Mounts and files the pod init sets up before any app starts: the pod's own
// API file systems, then per app its rootfs (a mount point of its own),
// /proc /sys /dev, volumes, /etc/hosts and /etc/resolv.conf, read-only root.
// Everything happens in the pod's mount namespace, so `enter` sees it too and
// it all disappears with the namespace when the pod ends.
#pragma once
#include <string>

#include "config.hpp"
#include "contract/poddir.hpp"

namespace pod::init {

// Where the stage1 run entrypoint makes kind=host volume sources visible, and
// where stage0 keeps kind=empty volumes (the pod dir is at /pod).
inline constexpr const char* kHostVolumesDir = poddir::kHostVolumesInRoot;
inline const std::string kEmptyVolumesDir = std::string(poddir::kPodInRoot) + "/" + poddir::kVolumesDir;
// A copy of the host's resolv.conf the run entrypoint may leave for net=host.
inline const std::string kHostResolvConf = std::string(poddir::kPodInRoot) + "/" + poddir::kStateDir + "/resolv.conf";

std::string app_rootfs(const std::string& app);  // /opt/stage2/<app>/rootfs

// sd_notify from an app (Documentation/systemd.md "Readiness"): for each app
// that may notify, the stage1 binds a datagram socket named after the app in
// the directory $POD_APP_NOTIFY_DIR (it receives and relays what arrives).
// The init binds that socket into the app's rootfs here, and the app gets
// NOTIFY_SOCKET pointing to it.
inline constexpr const char* kAppNotifySocket = "/run/pod/notify";
// The stage1's socket for `app`, or "" when it made none.
std::string app_notify_source(const std::string& app);

// Mount /proc, /sys and a minimal /dev where the flavour has not already.
void ensure_api_filesystems();

void prepare_app_rootfs(const App& app, const PodConfig& cfg);

// Detach every mount at or below `root` (deepest first): an app's rootfs
// with its /proc, /dev, volumes, … when it is removed from a running pod.
void unmount_tree(const std::string& root);

}  // namespace pod::init
