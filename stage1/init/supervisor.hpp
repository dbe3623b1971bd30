// The pod init's main job as PID 1: start every app, reap every child,
// forward SIGTERM/SIGINT to the apps (SIGKILL for everything after the stop
// timeout), write each app's exit record and compute the pod exit status.
#pragma once
#include "config.hpp"
#include "util/error.hpp"

namespace pod::init {

// Exit status when the init itself fails (ABI: stage1 failure).
inline constexpr int kExitStage1Failure = kExitStage1Failed;

// Runs the pod to its end. `pod_dirfd` is /pod. Returns the pod exit status:
// that of the first app (in manifest order) that failed, else 0.
int run_pod(const PodConfig& cfg, int pod_dirfd);

// The pod exit status from per-app exit codes in manifest order.
int pod_exit_status(const std::vector<int>& exit_codes);

}  // namespace pod::init
