#include "pods/gc.hpp"

#include <cerrno>

#include "util/crashpoint.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"
#include "util/lock.hpp"
#include "util/mount.hpp"
#include "pods/walk.hpp"

namespace pod {

namespace {

// Evaluated at the moment of each decision: a pod marked earlier in this very
// sweep is old enough for a zero grace period.
bool older_than(const std::optional<Clock::time_point>& t, std::chrono::milliseconds age) {
  return !t || Clock::now() - *t >= age;
}

void unmount_pod(Pod& pod, const GcLog& log) {
  auto rep = unmount_below(pod.path());
  for (const auto& d : rep.detached) log("pod " + pod.uuid() + ": " + d + " was busy; detached lazily");
}

}  // namespace

void delete_pod(Pod& pod, const PodTeardown& teardown, const GcLog& log) {
  if (!pod.locked()) throw Error("bug: delete_pod without the pod lock");
  auto d = pod.locate();
  if (!d) return;  // someone finished it already
  if (*d == PodDir::ExitedGarbage) {
    if (teardown) {
      try {
        teardown(pod);
      } catch (const Error& e) {
        log("pod " + pod.uuid() + ": stage1 gc failed: " + e.what() + "; removing the pod anyway");
      }
    }
    crashpoint("delete:after-teardown");
    unmount_pod(pod, log);
    crashpoint("delete:after-unmount");
    pod.to_garbage();
    d = PodDir::Garbage;
  }
  if (*d != PodDir::Garbage) throw Error("bug: deleting pod " + pod.uuid() + " from " + pod_dir_name(*d));
  unmount_pod(pod, log);
  crashpoint("delete:before-remove");
  remove_tree_at(pod.store().dir_fd(PodDir::Garbage), pod.uuid());
}

void remove_pod(Pod& pod, const PodTeardown& teardown, const GcLog& log) {
  PodState s = pod.state();
  switch (s) {
    case PodState::Exited:
      pod.to_exited_garbage();
      break;
    case PodState::Prepared:
    case PodState::AbortedPrepare:
      pod.to_garbage();
      break;
    case PodState::ExitedGarbage:
    case PodState::Garbage:
      break;
    case PodState::Gone:
      throw Error("pod " + pod.uuid() + " does not exist any more", ENOENT, kExitNotFound);
    default:
      throw Error("cannot remove pod " + pod.uuid() + ": it is " + state_name(s) +
                      (s == PodState::Running ? "; stop it first with `pod stop " + pod.uuid() + "`" : ""),
                  EBUSY, kExitBusy);
  }
  if (!pod.try_lock_exclusive())
    throw Error("cannot remove pod " + pod.uuid() + ": it is being deleted by another process", EBUSY, kExitBusy);
  delete_pod(pod, teardown, log);
}

GcResult gc_pods(const Store& store, const GcOptions& o, const PodTeardown& teardown, const GcLog& log) {
  // One sweep at a time; a second gc waits for the first (cron overlap is fine).
  FileLock gc_lock = FileLock::acquire(store.locks_fd(), "gc", LockMode::Exclusive);
  GcResult r;
  auto fail = [&](const Pod& p, const std::string& why) {
    r.failures.push_back(p.uuid() + ": " + why);
    log("pod " + p.uuid() + ": " + why);
  };
  auto guarded = [&](Pod& p, const std::function<void()>& fn) {
    try {
      fn();
    } catch (const Error& e) {
      if (e.errnum() == ENOENT || p.state() == PodState::Gone) return;  // moved or removed by someone else
      fail(p, e.what());
    }
  };

  // Pass 1: mark. Exited pods -> exited-garbage; aborted prepares and stale embryos -> garbage.
  walk_pods(store, mask_of(PodState::Exited) | mask_of(PodState::AbortedPrepare) | mask_of(PodState::Embryo),
            [&](Pod& p, PodState s) {
              guarded(p, [&] {
                if (s == PodState::Exited) {
                  log("moving pod " + p.uuid() + " to exited-garbage");
                  p.to_exited_garbage();
                } else if (s == PodState::AbortedPrepare) {
                  log("moving aborted pod " + p.uuid() + " to garbage");
                  p.to_garbage();
                } else {
                  if (!older_than(p.read_time(podfile::kCreatedAt), o.embryo_grace)) return;
                  if (!p.try_lock_exclusive()) return;  // its creator is alive
                  log("moving stale embryo pod " + p.uuid() + " to garbage");
                  p.to_garbage();
                }
                r.marked.push_back(p.uuid());
                p.unlock();
              });
            });
  if (o.mark_only) return r;

  // Pass 2: expire prepared pods.
  walk_pods(store, mask_of(PodState::Prepared), [&](Pod& p, PodState) {
    guarded(p, [&] {
      auto t = p.read_time(podfile::kPreparedAt);
      if (!t) t = p.read_time(podfile::kCreatedAt);
      if (!older_than(t, o.expire_prepared)) return;
      log("moving expired prepared pod " + p.uuid() + " to garbage");
      p.to_garbage();
      r.marked.push_back(p.uuid());
      p.unlock();
    });
  });

  // Pass 3: delete exited-garbage past the grace period, and all garbage.
  walk_pods(store, mask_of(PodState::ExitedGarbage) | mask_of(PodState::Garbage), [&](Pod& p, PodState s) {
    guarded(p, [&] {
      if (s == PodState::ExitedGarbage && !older_than(p.read_time(podfile::kGcMarkedAt), o.grace_period)) {
        r.kept.push_back(p.uuid());
        return;
      }
      if (!p.try_lock_exclusive()) return;  // another rm/gc is deleting it
      log("garbage collecting pod " + p.uuid());
      delete_pod(p, teardown, log);
      r.collected.push_back(p.uuid());
    });
  });
  return r;
}

}  // namespace pod
