// Pod state transitions. Each one: check where the pod is (by inode, so a
// concurrent rename is seen), hold the exclusive lock, renameat(2) between
// state dirs. A loser of a rename race sees ENOENT and reports the state the
// pod is in now. Only the moves into and out of prepared/ are fsynced; why
// that is enough: Documentation/pod-lifecycle.md, "Durability".
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

#include "pods/pod.hpp"
#include "util/crashpoint.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"

namespace pod {

PodDir Pod::require_in(std::initializer_list<PodDir> allowed, const char* op) const {
  auto d = locate();
  if (d) {
    for (PodDir a : allowed)
      if (a == *d) return *d;
  }
  throw Error("cannot " + std::string(op) + " pod " + uuid_ + ": it is " + state_name(state()), EINVAL, ErrorKind::Conflict);
}

void Pod::move(PodDir from, PodDir to, const char* crash_tag, bool durable) {
  if (!locked_) throw Error("bug: moving pod " + uuid_ + " without holding its lock");
  int ffd = store_->dir_fd(from), tfd = store_->dir_fd(to);
  if (::renameat(ffd, uuid_.c_str(), tfd, uuid_.c_str()) < 0) {
    if (errno == ENOENT)
      throw Error("pod " + uuid_ + " moved concurrently; it is now " + state_name(state()), ENOENT, ErrorKind::Conflict);
    throw_sys("cannot move pod " + uuid_ + " from " + pod_dir_name(from) + " to " + pod_dir_name(to));
  }
  last_seen_ = to;
  crashpoint(crash_tag);
  if (durable) {
    fsync_fd(tfd, std::string("pods/") + pod_dir_name(to));
    fsync_fd(ffd, std::string("pods/") + pod_dir_name(from));
  }
}

void Pod::to_preparing() {
  PodDir d = require_in({PodDir::Embryo}, "start preparing");
  move(d, PodDir::Prepare, "to-preparing:after-rename");
}

void Pod::to_prepared() {
  PodDir d = require_in({PodDir::Prepare}, "mark prepared");
  if (!locked_) throw Error("bug: to_prepared without the lock");
  // Everything prepare wrote (prepared-at too) must be on disk before the pod
  // claims to be prepared.
  write_time(poddir::kPreparedAt);
  if (::syncfs(fd_.get()) < 0) throw_sys("cannot sync pod " + uuid_);
  move(d, PodDir::Prepared, "to-prepared:after-rename", /*durable=*/true);
  unlock();
}

void Pod::to_run() {
  PodDir d = require_in({PodDir::Prepare, PodDir::Prepared}, "run");
  if (d == PodDir::Prepare && !locked_)
    throw Error("cannot run pod " + uuid_ + ": its preparation was aborted", EINVAL, ErrorKind::Conflict);
  if (!try_lock_exclusive())
    throw Error("cannot run pod " + uuid_ + ": it is " + state_name(state()), EBUSY, ErrorKind::Conflict);
  d = require_in({PodDir::Prepare, PodDir::Prepared}, "run");  // re-check under the lock
  write_time(poddir::kStartedAt);
  // Out of prepared/ for good before stage1 writes a byte: a power loss must
  // never bring back as prepared a pod that ran (its overlay upper dirs and
  // status files). From prepare/ no promise was made: no fsync.
  move(d, PodDir::Run, "to-run:after-rename", /*durable=*/d == PodDir::Prepared);
}

void Pod::to_exited_garbage() {
  require_in({PodDir::Run}, "mark exited pod as garbage");
  if (!try_lock_exclusive())
    throw Error("cannot remove pod " + uuid_ + ": it is running; stop it first with `pod stop " + uuid_ + "`",
                EBUSY, ErrorKind::Conflict);
  PodDir d = require_in({PodDir::Run}, "mark exited pod as garbage");
  write_time(poddir::kGcMarkedAt);
  crashpoint("to-exited-garbage:after-mark");
  move(d, PodDir::ExitedGarbage, "to-exited-garbage:after-rename");
}

void Pod::to_garbage() {
  if (!try_lock_exclusive())
    throw Error("cannot remove pod " + uuid_ + ": it is " + state_name(state()), EBUSY, ErrorKind::Conflict);
  PodDir d = require_in({PodDir::Prepare, PodDir::Prepared, PodDir::ExitedGarbage, PodDir::Embryo}, "move to garbage");
  // Out of prepared/ for good before the removal starts, or a power loss could
  // leave a half-removed tree that still looks prepared.
  move(d, PodDir::Garbage, "to-garbage:after-rename", /*durable=*/d == PodDir::Prepared);
}

void Pod::discard() noexcept {
  try {
    auto d = locate();
    if (locked_ && d && (*d == PodDir::Embryo || *d == PodDir::Prepare)) {
      // Not durable: after a power loss it is an unlocked embryo or aborted
      // prepare, which gc removes anyway.
      move(*d, PodDir::Garbage, "discard:after-rename");
      remove_tree_at(store_->dir_fd(PodDir::Garbage), uuid_);
    }
  } catch (const Error&) {
    // Left for gc.
  }
  unlock();
}

}  // namespace pod
