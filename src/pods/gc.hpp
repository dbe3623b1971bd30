// Garbage collection and removal of pods. Every step is restartable: a crash
// anywhere leaves the pod in a state dir from which the next gc goes on.
#pragma once
#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "pods/pod.hpp"

namespace pod {

// Tears down what a stage1 set up for an exited pod (its gc entrypoint).
// Called with the pod locked exclusively, in exited-garbage/. May throw
// pod::Error; the failure is reported and deletion goes on.
using PodTeardown = std::function<void(Pod&)>;
// Progress and problem messages ("moving pod X to garbage", ...).
using GcLog = std::function<void(const std::string&)>;

struct GcOptions {
  std::chrono::milliseconds grace_period = std::chrono::minutes(30);
  std::chrono::milliseconds expire_prepared = std::chrono::hours(24);
  // An unlocked embryo younger than this may still be getting its lock.
  std::chrono::milliseconds embryo_grace = std::chrono::seconds(60);
  bool mark_only = false;
};

struct GcResult {
  std::vector<std::string> marked;     // moved to exited-garbage or garbage
  std::vector<std::string> collected;  // deleted
  std::vector<std::string> kept;       // still within grace period
  std::vector<std::string> failures;   // "uuid: reason"
};

GcResult gc_pods(const Store& store, const GcOptions& opts, const PodTeardown& teardown, const GcLog& log);

// Delete one pod that is in exited-garbage/ or garbage/ and locked by us:
// stage1 teardown, unmount everything below it, move to garbage, remove.
void delete_pod(Pod& pod, const PodTeardown& teardown, const GcLog& log);

// `pod rm`: remove a pod that is not running/preparing/being deleted.
void remove_pod(Pod& pod, const PodTeardown& teardown, const GcLog& log);

}  // namespace pod
