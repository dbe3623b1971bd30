// Preparing a pod (images resolved and rendered, pod dir laid out, manifest
// written) and handing it to stage1.
//
// Pod dir layout written here (see Documentation/stage1-abi.md):
//   pod                       reified appc pod manifest
//   runtime.json              run-time options
//   stage1/manifest           stage1 image manifest
//   stage1/tree               path of the rendered stage1 tree (overlay lower dir)
//   stage1/rootfs/            overlay mount point (mounted at run time) or a copy
//   apps/<app>/manifest       the app's image manifest
//   apps/<app>/tree           path of its rendered tree
//   trees/<tree-id>           references that keep `image gc` off the trees
//   overlay/<name>/{upper,work}   overlay upper/work dirs (overlay mode)
//   rootfs-mode               "overlay" or "copy"
//   volumes/<name>/           kind=empty volumes
//   appstatus/, logs/, stage1-state/
#pragma once
#include <functional>
#include <string>

#include "pods/pod.hpp"
#include "run/podspec.hpp"

namespace pod::images {
class ImageStore;
}

namespace pod::run {

using Progress = std::function<void(const std::string&)>;

// Creates the pod and prepares it; returns it locked in prepare/ (preparing).
// On any error the pod is left as an aborted prepare for gc (and the error rethrown).
Pod prepare_pod(const Store& store, images::ImageStore& images, PodSpec& spec, const Progress& debug);

// Whether overlayfs can be used for pods in this data dir (probed once per process).
bool overlay_usable(const Store& store);

// Move a prepared (or our preparing) pod to run inside a private mount
// namespace holding its overlay mounts, then exec the stage1 run entrypoint
// with the pod lock. Errors before the rename leave the pod as it was.
[[noreturn]] void run_pod(Pod& pod, const RuntimeOptions* override_rt);

// Read back runtime.json of a pod.
RuntimeOptions read_runtime(const Pod& pod);

}  // namespace pod::run
