// Preparing a pod (images resolved and rendered, pod dir laid out, manifest
// written) and handing it to stage1.
//
// The pod dir layout written here is named in contract/poddir.hpp.
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "images/store.hpp"
#include "pods/pod.hpp"
#include "run/podspec.hpp"
#include "stage1abi/stage1.hpp"

namespace pod::images {
class ImageStore;
}

namespace pod::run {

using Progress = std::function<void(const std::string&)>;

// Creates the pod and prepares it; returns it locked in prepare/ (preparing).
// On any error the pod is left as an aborted prepare for gc (and the error rethrown).
// notice: what the user should hear of (an image merged past overlayfs' layer limit).
Pod prepare_pod(const Store& store, images::ImageStore& images, PodSpec& spec, const Progress& debug,
                const Progress& notice);

// Whether overlayfs can be used for pods in this data dir (probed once per process).
bool overlay_usable(const Store& store);
// docker and podman create an OCI image's WorkingDir when no layer has it: the rootfs-relative path
// to create in the app's own tree, or "".
std::string oci_missing_workdir(const ResolvedApp& a, const std::vector<images::ImageStore::Tree>& stack,
                                const std::string& working_directory);

// Move a prepared (or our preparing) pod to run inside a private mount
// namespace holding its overlay mounts, then exec the stage1 run entrypoint
// with the pod lock. Errors before the rename leave the pod as it was.
// With `restart` the pod is an exited one in run/ instead: it stays there, its
// last run's records are reset (reset_run_records) under the lock, and the
// same trees start again (Documentation/pod-lifecycle.md, "restart").
[[noreturn]] void run_pod(Pod& pod, const contract::Runtime* override_rt, bool restart = false);

// What a run leaves that the next run of the same pod must not see: the apps'
// exit records, the stage1's exit status, failure, pid, ready, paused. Kept:
// the trees (overlay upper dirs), volumes, logs (appended to), runtime.json.
void reset_run_records(const Pod& pod);

// Read back runtime.json of a pod.
contract::Runtime read_runtime(const Pod& pod);

}  // namespace pod::run
