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

// How many gc/rm runs in a row report a busy mount below a pod (and leave the
// pod for the next run) before the mount is detached lazily (MNT_DETACH) as a
// last resort. A lazily detached mount stays alive, invisibly, as long as
// whoever keeps it busy does; that is why it is not the first answer.
inline constexpr int kDefaultBusyRetries = 2;

struct GcSettings {
  std::chrono::milliseconds grace_period = std::chrono::minutes(30);
  std::chrono::milliseconds expire_prepared = std::chrono::hours(24);
  // An unlocked embryo younger than this may still be getting its lock.
  std::chrono::milliseconds embryo_grace = std::chrono::seconds(60);
  bool mark_only = false;
  int busy_retries = kDefaultBusyRetries;
};

struct GcResult {
  std::vector<std::string> marked;     // moved to exited-garbage or garbage
  std::vector<std::string> collected;  // deleted
  std::vector<std::string> kept;       // still within grace period
  std::vector<std::string> failures;   // "uuid: reason"
  std::vector<std::string> detached;   // "uuid: mount point" detached lazily (busy)
};

GcResult gc_pods(const Store& store, const GcSettings& opts, const PodTeardown& teardown, const GcLog& log);

// Delete one pod that is in exited-garbage/ or garbage/ and locked by us:
// stage1 teardown, unmount everything below it, move to garbage, remove.
// A mount that stays busy makes it throw (EBUSY, the pod left in place for
// the next run) `busy_retries` times, counted in the pod file
// gc-busy-attempts; after that it is detached lazily and logged.
void delete_pod(Pod& pod, const PodTeardown& teardown, const GcLog& log, int busy_retries = kDefaultBusyRetries);

// `pod rm`: remove a pod that is not running/preparing/being deleted.
void remove_pod(Pod& pod, const PodTeardown& teardown, const GcLog& log, int busy_retries = kDefaultBusyRetries);

}  // namespace pod
