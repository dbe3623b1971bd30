// One pod: a directory named by its UUID in exactly one state directory.
//
// A Pod holds an O_DIRECTORY fd of the pod dir. All reads and writes of pod
// files go through that fd, so they keep working while the directory is
// renamed between state dirs. The pod lock is flock(2) on that fd.
#pragma once
#include <chrono>
#include <optional>
#include <string>

#include <pod/types.hpp>

#include "contract/poddir.hpp"
#include "pods/store.hpp"
#include "util/fd.hpp"
#include "util/time.hpp"

namespace pod {


using StateMask = unsigned;
constexpr StateMask mask_of(PodState s) { return 1u << static_cast<unsigned>(s); }
constexpr StateMask kAllStates = ~0u;


class Pod {
 public:
  // Make a new pod in embryo/, exclusively locked by this process.
  static Pod create(const Store& store);
  // Open an existing pod by its full canonical UUID (no lock taken).
  // Returns nullopt when no state dir holds it.
  static std::optional<Pod> try_open(const Store& store, const std::string& uuid);
  // Same, for a pod seen listed in state dir `seen_in`: pods only move
  // forward, so the search starts there (one openat instead of up to six).
  static std::optional<Pod> try_open(const Store& store, const std::string& uuid, PodDir seen_in);
  // Like try_open but throws a not-found Error.
  static Pod open(const Store& store, const std::string& uuid);

  Pod(Pod&&) noexcept = default;
  Pod& operator=(Pod&&) noexcept = default;

  const std::string& uuid() const { return uuid_; }
  int fd() const { return fd_.get(); }
  const Store& store() const { return *store_; }
  bool locked() const { return locked_; }

  // Re-find the directory this pod is in now (by inode) and its state.
  std::optional<PodDir> locate() const;
  PodState state() const;
  // Absolute path of the pod dir where it is now (throws when gone).
  std::string path() const;

  // --- transitions; each renames under the exclusive lock. Only the moves
  // into and out of prepared/ are durable (pod-lifecycle.md, "Durability"). ---
  void to_preparing();       // embryo -> prepare (lock held by us)
  void to_prepared();        // prepare -> prepared, releases the lock
  void to_run();             // prepare (ours) or prepared -> run; lock kept for stage1
  void to_exited_garbage();  // run (exited) -> exited-garbage
  void to_garbage();         // prepare (aborted/ours), prepared, exited-garbage -> garbage
  void unlock();
  // The creator of a pod that failed before it was prepared (it is in
  // embryo/ or prepare/, locked by us) removes it: into garbage/, then
  // deleted. Best effort and never throws: what is left (after a failure
  // here, or a kill -9 at any point) is what gc finishes, as before.
  void discard() noexcept;

  // Clear FD_CLOEXEC on the lock fd so an exec'd stage1 inherits the lock.
  int hand_lock_to_child();

  // Take the exclusive lock, waiting out short-lived shared probers but not a
  // real holder. False when someone else holds it exclusively.
  bool try_lock_exclusive();

  std::optional<Clock::time_point> read_time(const char* file) const;
  void write_time(const char* file, Clock::time_point t = Clock::now());

 private:
  Pod(const Store& store, std::string uuid, UniqueFd fd, PodDir where)
      : store_(&store), uuid_(std::move(uuid)), fd_(std::move(fd)), last_seen_(where) {}
  // Durable moves fsync both state dirs; volatile ones rely on gc to recover
  // after a power loss (Documentation/pod-lifecycle.md, "Durability").
  void move(PodDir from, PodDir to, const char* crash_tag, bool durable = false);
  PodDir require_in(std::initializer_list<PodDir> allowed, const char* op) const;

  const Store* store_;
  std::string uuid_;
  UniqueFd fd_;
  bool locked_ = false;
  // Where locate() found the pod last; checked first (by inode) next time.
  mutable PodDir last_seen_;
};

// Discards (Pod::discard) the pod being created when it goes out of scope
// unreleased: a failed `pod run`/`prepare` removes the pod it made instead of
// leaving it to gc. release() once the pod is prepared.
class DiscardUnlessReleased {
 public:
  explicit DiscardUnlessReleased(Pod& p) : pod_(&p) {}
  ~DiscardUnlessReleased() {
    if (pod_) pod_->discard();
  }
  DiscardUnlessReleased(const DiscardUnlessReleased&) = delete;
  DiscardUnlessReleased& operator=(const DiscardUnlessReleased&) = delete;
  void release() { pod_ = nullptr; }

 private:
  Pod* pod_;
};

}  // namespace pod
