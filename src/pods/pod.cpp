#include "pods/pod.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "util/crashpoint.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"
#include "util/lock.hpp"
#include "util/uuid.hpp"

namespace pod {

const char* state_name(PodState s) {
  switch (s) {
    case PodState::Embryo: return "embryo";
    case PodState::Preparing: return "preparing";
    case PodState::AbortedPrepare: return "aborted-prepare";
    case PodState::Prepared: return "prepared";
    case PodState::Running: return "running";
    case PodState::Exited: return "exited";
    case PodState::ExitedGarbage: return "exited-garbage";
    case PodState::ExitedDeleting: return "exited-deleting";
    case PodState::Garbage: return "garbage";
    case PodState::Deleting: return "deleting";
    case PodState::Gone: return "gone";
  }
  return "?";
}

Pod Pod::create(const Store& store) {
  int efd = store.dir_fd(PodDir::Embryo);
  for (int attempt = 0; attempt < 8; ++attempt) {
    std::string uuid = new_uuid();
    if (::mkdirat(efd, uuid.c_str(), 0750) < 0) {
      if (errno == EEXIST) continue;
      throw_sys("cannot create pod directory in " + store.path() + "/pods/embryo");
    }
    crashpoint("create:after-mkdir");
    Pod p(store, uuid, open_dir_at(efd, uuid), PodDir::Embryo);
    // Only we know the name yet, so this cannot block for long.
    lock_fd(p.fd(), LockMode::Exclusive, "pod " + uuid);
    p.locked_ = true;
    DiscardUnlessReleased discard(p);
    try {
      p.write_time(poddir::kCreatedAt);
    } catch (const Error& e) {
      throw e.with_context("cannot create pod " + uuid + " in " + store.path() + "/pods/embryo");
    }
    discard.release();
    return p;
  }
  throw Error("cannot allocate a unique pod UUID");
}

std::optional<Pod> Pod::try_open(const Store& store, const std::string& uuid) {
  if (!is_canonical_uuid(uuid)) return std::nullopt;
  // Lifecycle order: pods only move forward, so a pod that moves while we
  // look is still found in a later directory.
  return try_open(store, uuid, PodDir::Embryo);
}

std::optional<Pod> Pod::try_open(const Store& store, const std::string& uuid, PodDir seen_in) {
  if (!is_canonical_uuid(uuid)) return std::nullopt;
  for (PodDir d : kAllPodDirs) {
    if (static_cast<int>(d) < static_cast<int>(seen_in)) continue;
    UniqueFd fd = try_open_dir_at(store.dir_fd(d), uuid);
    if (fd) return Pod(store, uuid, std::move(fd), d);
  }
  return std::nullopt;
}

Pod Pod::open(const Store& store, const std::string& uuid) {
  auto p = try_open(store, uuid);
  if (!p) throw Error("no pod with UUID " + uuid, ENOENT, ErrorKind::NotFound).with_item(uuid);
  return std::move(*p);
}

std::optional<PodDir> Pod::locate() const {
  struct stat me = stat_fd(fd_.get());
  auto here = [&](PodDir d) {
    auto st = stat_at(store_->dir_fd(d), uuid_);
    return st && st->st_ino == me.st_ino && st->st_dev == me.st_dev;
  };
  if (here(last_seen_)) return last_seen_;
  for (PodDir d : kAllPodDirs) {
    if (d == last_seen_ || !here(d)) continue;
    last_seen_ = d;
    return d;
  }
  return std::nullopt;
}

PodState Pod::state() const {
  auto d = locate();
  if (!d) return PodState::Gone;
  // Without a lock of our own, our description can probe directly (a shared
  // try-lock, released at once): no reopen needed.
  bool held = locked_;
  if (!held) {
    held = !try_lock_fd(fd_.get(), LockMode::Shared, "pod " + uuid_);
    if (!held) unlock_fd(fd_.get());
  }
  switch (*d) {
    case PodDir::Embryo: return PodState::Embryo;
    case PodDir::Prepare: return held ? PodState::Preparing : PodState::AbortedPrepare;
    case PodDir::Prepared: return PodState::Prepared;
    case PodDir::Run: return held ? PodState::Running : PodState::Exited;
    case PodDir::ExitedGarbage: return held ? PodState::ExitedDeleting : PodState::ExitedGarbage;
    case PodDir::Garbage: return held ? PodState::Deleting : PodState::Garbage;
  }
  return PodState::Gone;
}

std::string Pod::path() const {
  auto d = locate();
  if (!d) throw Error("pod " + uuid_ + " is gone", ENOENT, ErrorKind::NotFound);
  return store_->pod_path(*d, uuid_);
}

bool Pod::try_lock_exclusive() {
  if (locked_) return true;
  locked_ = try_lock_exclusive_past_probers(fd_.get(), "pod " + uuid_);
  return locked_;
}

void Pod::unlock() {
  if (!locked_) return;
  unlock_fd(fd_.get());
  locked_ = false;
}

int Pod::hand_lock_to_child() {
  int flags = ::fcntl(fd_.get(), F_GETFD);
  if (flags < 0 || ::fcntl(fd_.get(), F_SETFD, flags & ~FD_CLOEXEC) < 0) throw_sys("cannot pass the pod lock on");
  return fd_.get();
}

std::optional<Clock::time_point> Pod::read_time(const char* file) const {
  auto s = try_read_file_at(fd_.get(), file, 64);
  if (!s || s->empty()) return std::nullopt;
  try {
    return Clock::time_point(std::chrono::duration_cast<Clock::duration>(std::chrono::nanoseconds(std::stoll(*s))));
  } catch (const std::exception&) {
    return std::nullopt;  // a torn or hand-edited file: treat as unknown
  }
}

void Pod::write_time(const char* file, Clock::time_point t) {
  auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
  write_file_atomic_at(fd_.get(), file, std::to_string(ns) + "\n", 0644, Durability::kVolatile);
}

}  // namespace pod
