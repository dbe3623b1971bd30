// flock(2) helpers. A flock belongs to the open file description, so it
// survives rename(2) of the locked directory and is inherited across exec
// when the fd is (see Pod::hand_lock_to_child()).
#pragma once
#include <string>

#include "util/fd.hpp"

namespace pod {

enum class LockMode { Shared, Exclusive };

// Blocking lock (retries on EINTR).
void lock_fd(int fd, LockMode mode, const std::string& what);
// Non-blocking; false when someone else holds a conflicting lock.
bool try_lock_fd(int fd, LockMode mode, const std::string& what);
void unlock_fd(int fd);

// Is an exclusive lock held by another open file description? Probes with a
// non-blocking shared lock that is released at once. A process holding only a
// shared lock (another prober) does not count as a holder.
bool exclusive_lock_held(int fd);

// Take an exclusive lock without blocking on a real holder: retries while the
// only conflicting holders are short-lived shared probers. Returns false when
// an exclusive holder exists.
bool try_lock_exclusive_past_probers(int fd, const std::string& what);

// A lock file (created if missing) locked for the lifetime of the object.
//
// Lock files can be removed safely (remove()): whoever holds one exclusively
// unlinks it before letting go, and every acquire checks after locking that
// the name still leads to the inode it locked, starting over if not. So a
// process that opened the file just before the unlink cannot end up holding
// a lock on a nameless inode while another locks the new file.
class FileLock {
 public:
  FileLock() = default;
  // Opens dirfd/name (creating it 0600), then locks it; blocking or not.
  static FileLock acquire(int dirfd, const std::string& name, LockMode mode);
  static FileLock try_acquire(int dirfd, const std::string& name, LockMode mode);
  explicit operator bool() const { return static_cast<bool>(fd_); }
  int fd() const { return fd_.get(); }
  // Unlink dirfd/name (this lock's file, held exclusively) and release it:
  // for a key that is gone for good (an image or tree removed).
  void remove(int dirfd, const std::string& name);

 private:
  explicit FileLock(UniqueFd fd) : fd_(std::move(fd)) {}
  UniqueFd fd_;
};

}  // namespace pod
