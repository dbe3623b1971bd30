#include "pods/gc.hpp"

#include <cerrno>

#include "run/privateusers.hpp"
#include "util/crashpoint.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"
#include "util/lock.hpp"
#include "util/mount.hpp"
#include "pods/walk.hpp"

namespace pod {

namespace {

// Number of runs that found a mount below the pod busy (decimal).
constexpr const char* kBusyAttempts = "gc-busy-attempts";

// Evaluated at the moment of each decision: a pod marked earlier in this very
// sweep is old enough for a zero grace period.
bool older_than(const std::optional<Clock::time_point>& t, std::chrono::milliseconds age) {
  return !t || Clock::now() - *t >= age;
}

// Unmount everything below the pod without detaching. A busy mount is
// reported (thrown, so gc counts the pod as a failure and moves on) and
// retried on the next run; only after `busy_retries` such runs is it
// detached lazily, and that is logged too.
void unmount_pod(Pod& pod, const GcLog& log, int busy_retries) {
  const std::string dir = pod.path();
  auto rep = try_unmount_below(dir);
  if (rep.busy.empty()) return;
  int attempts = 1;
  if (auto s = try_read_file_at(pod.fd(), kBusyAttempts, 32)) {
    try {
      attempts = std::stoi(*s) + 1;
    } catch (const std::exception&) {
    }
  }
  if (attempts <= busy_retries) {
    write_file_at(pod.fd(), kBusyAttempts, std::to_string(attempts) + "\n", 0644, Durability::kVolatile);
    throw Error("mount " + rep.busy.front() + " is busy (a process has files open or its working directory below it); " +
                    "left for the next run (" + std::to_string(attempts) + " of " + std::to_string(busy_retries) +
                    ", then it is detached lazily)",
                EBUSY);
  }
  auto last = unmount_below(dir);
  for (const auto& d : last.detached)
    log("pod " + pod.uuid() + ": " + d + " was still busy after " + std::to_string(attempts - 1) +
        " runs; detached lazily (it lives on, invisible, until its users exit)");
}

}  // namespace

void delete_pod(Pod& pod, const PodTeardown& teardown, const GcLog& log, int busy_retries) {
  if (!pod.locked()) throw Error("bug: delete_pod without the pod lock");
  auto d = pod.locate();
  if (!d) return;  // someone finished it already
  // An app operation (src/api/apps.cpp) checks under this lock that the pod runs: none is half-way in it.
  FileLock apps = FileLock::try_acquire(pod.fd(), poddir::kAppsLock, LockMode::Exclusive);
  if (!apps) throw Error("pod " + pod.uuid() + ": an app operation holds its apps lock; left for the next run", EBUSY);
  if (*d == PodDir::ExitedGarbage) {
    if (teardown) {
      try {
        teardown(pod);
      } catch (const Error& e) {
        log("pod " + pod.uuid() + ": stage1 gc failed: " + e.what() + "; removing the pod anyway");
      }
    }
    crashpoint("delete:after-teardown");
    unmount_pod(pod, log, busy_retries);
    crashpoint("delete:after-unmount");
    pod.to_garbage();
    d = PodDir::Garbage;
  }
  if (*d != PodDir::Garbage) throw Error("bug: deleting pod " + pod.uuid() + " from " + pod_dir_name(*d));
  unmount_pod(pod, log, busy_retries);
  crashpoint("delete:before-remove");
  remove_tree_at(pod.store().dir_fd(PodDir::Garbage), pod.uuid());
  crashpoint("delete:before-userns-release");
  run::release_private_users(pod.store(), pod.uuid());  // a kill -9 before: gc's sweep drops the record
}

void remove_pod(Pod& pod, const PodTeardown& teardown, const GcLog& log, int busy_retries) {
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
      throw Error("pod " + pod.uuid() + " does not exist any more", ENOENT, ErrorKind::NotFound);
    default:
      throw Error("cannot remove pod " + pod.uuid() + ": it is " + state_name(s) +
                      (s == PodState::Running ? "; stop it first with `pod stop " + pod.uuid() + "`" : ""),
                  EBUSY, ErrorKind::Conflict);
  }
  if (!pod.try_lock_exclusive())
    throw Error("cannot remove pod " + pod.uuid() + ": it is being deleted by another process", EBUSY, ErrorKind::Conflict);
  delete_pod(pod, teardown, log, busy_retries);
}

GcResult gc_pods(const Store& store, const GcSettings& o, const PodTeardown& teardown, const GcLog& log) {
  // One sweep at a time; a second gc waits for the first (cron overlap is fine).
  FileLock gc_lock = FileLock::acquire(store.locks_fd(), "gc", LockMode::Exclusive);
  GcResult r;
  auto fail = [&](const Pod& p, const std::string& why) {
    r.failures.push_back(p.uuid() + ": " + why);
    log("pod " + p.uuid() + ": " + why);
  };
  auto detach_log = [&](const std::string& m) {
    if (m.find("detached lazily") != std::string::npos) r.detached.push_back(m);
    log(m);
  };

  // One walk over the state dirs. Each pod goes as far as it may in this run:
  //   exited -> exited-garbage; aborted prepare, stale embryo -> garbage (mark);
  //   prepared past --expire-prepared -> garbage;
  //   exited-garbage past the grace period, and garbage -> deleted.
  // The decisions are the same as three separate passes would make.
  walk_pods(store, kAllStates, [&](Pod& p, PodState s) {
    try {
      if (s == PodState::Exited) {
        log("moving pod " + p.uuid() + " to exited-garbage");
        p.to_exited_garbage();
        r.marked.push_back(p.uuid());
        p.unlock();
        s = PodState::ExitedGarbage;
      } else if (s == PodState::AbortedPrepare) {
        log("moving aborted pod " + p.uuid() + " to garbage");
        p.to_garbage();
        r.marked.push_back(p.uuid());
        p.unlock();
        s = PodState::Garbage;
      } else if (s == PodState::Embryo) {
        // Without created-at (its creator is between mkdir and lock, or died
        // there) the dir's ctime says how old it is.
        auto born = p.read_time(poddir::kCreatedAt);
        if (!born) {
          struct stat st = stat_fd(p.fd());
          born = Clock::time_point(std::chrono::duration_cast<Clock::duration>(
              std::chrono::seconds(st.st_ctim.tv_sec) + std::chrono::nanoseconds(st.st_ctim.tv_nsec)));
        }
        if (!older_than(born, o.embryo_grace)) return;
        if (!p.try_lock_exclusive()) return;  // its creator is alive
        log("moving stale embryo pod " + p.uuid() + " to garbage");
        p.to_garbage();
        r.marked.push_back(p.uuid());
        p.unlock();
        s = PodState::Garbage;
      }
      if (o.mark_only) return;

      if (s == PodState::Prepared) {
        auto t = p.read_time(poddir::kPreparedAt);
        if (!t) t = p.read_time(poddir::kCreatedAt);
        if (!older_than(t, o.expire_prepared)) return;
        // Locked: `prepare` is finishing it or `run-prepared` is starting it.
        // Once locked, it may have moved on to run/ in the meantime.
        if (!p.try_lock_exclusive()) return;
        if (p.locate() != PodDir::Prepared) {
          p.unlock();
          return;
        }
        log("moving expired prepared pod " + p.uuid() + " to garbage");
        p.to_garbage();
        r.marked.push_back(p.uuid());
        p.unlock();
        s = PodState::Garbage;
      }

      if (s != PodState::ExitedGarbage && s != PodState::Garbage) return;
      if (s == PodState::ExitedGarbage && !older_than(p.read_time(poddir::kGcMarkedAt), o.grace_period)) {
        r.kept.push_back(p.uuid());
        return;
      }
      if (!p.try_lock_exclusive()) return;  // another rm/gc is deleting it
      log("garbage collecting pod " + p.uuid());
      delete_pod(p, teardown, detach_log, o.busy_retries);
      r.collected.push_back(p.uuid());
    } catch (const Error& e) {
      p.unlock();
      if (e.errnum() == ENOENT || p.state() == PodState::Gone) return;  // moved or removed by someone else
      fail(p, e.what());
    }
  });
  if (!o.mark_only)
    for (const auto& uuid : run::sweep_private_users(store)) log("released the --private-users ids of removed pod " + uuid);
  return r;
}

}  // namespace pod
