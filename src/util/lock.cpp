#include "util/lock.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>

#include <cerrno>

#include "util/error.hpp"

namespace pod {

namespace {
int op_of(LockMode m) { return m == LockMode::Shared ? LOCK_SH : LOCK_EX; }
}  // namespace

void lock_fd(int fd, LockMode mode, const std::string& what) {
  while (::flock(fd, op_of(mode)) < 0) {
    if (errno != EINTR) throw_sys("cannot lock " + what);
  }
}

bool try_lock_fd(int fd, LockMode mode, const std::string& what) {
  for (;;) {
    if (::flock(fd, op_of(mode) | LOCK_NB) == 0) return true;
    if (errno == EWOULDBLOCK) return false;
    if (errno != EINTR) throw_sys("cannot lock " + what);
  }
}

void unlock_fd(int fd) { ::flock(fd, LOCK_UN); }

bool exclusive_lock_held(int fd) {
  // A fresh open file description is needed: flock on the same description
  // would just convert our own lock. For a directory, openat(fd, ".") gives
  // one without the path walk through /proc (a third of `pod list`'s system
  // time at 10 000 pods); other files are reopened through /proc.
  int probe = ::openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (probe < 0 && errno == ENOTDIR) {
    std::string p = "/proc/self/fd/" + std::to_string(fd);
    probe = ::open(p.c_str(), O_RDONLY | O_CLOEXEC);
  }
  // A removed directory cannot be reopened by "."; nobody can lock it any more.
  if (probe < 0 && errno == ENOENT) return false;
  if (probe < 0) throw_sys("cannot reopen fd for lock probe");
  UniqueFd f(probe);
  bool got = try_lock_fd(probe, LockMode::Shared, "lock probe");
  if (got) unlock_fd(probe);
  return !got;
}

bool try_lock_exclusive_past_probers(int fd, const std::string& what) {
  for (int i = 0; i < 2000; ++i) {
    if (try_lock_fd(fd, LockMode::Exclusive, what)) return true;
    // Someone holds it. If a shared lock succeeds, the holders are only probers.
    if (!try_lock_fd(fd, LockMode::Shared, what)) return false;
    unlock_fd(fd);
    struct timespec ts {0, 1000000};  // 1 ms
    ::nanosleep(&ts, nullptr);
  }
  return false;
}

namespace {
// Does dirfd/name still name the file open as fd (not removed by remove())?
bool still_named(int dirfd, const std::string& name, int fd) {
  struct stat named, held;
  if (::fstatat(dirfd, name.c_str(), &named, AT_SYMLINK_NOFOLLOW) < 0) {
    if (errno == ENOENT) return false;
    throw_sys("cannot stat lock file " + name);
  }
  if (::fstat(fd, &held) < 0) throw_sys("cannot stat lock file " + name);
  return named.st_ino == held.st_ino && named.st_dev == held.st_dev;
}
}  // namespace

FileLock FileLock::acquire(int dirfd, const std::string& name, LockMode mode) {
  for (;;) {
    int fd = ::openat(dirfd, name.c_str(), O_RDONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) throw_sys("cannot open lock file " + name);
    UniqueFd f(fd);
    lock_fd(fd, mode, name);
    if (still_named(dirfd, name, fd)) return FileLock(std::move(f));
  }
}

FileLock FileLock::try_acquire(int dirfd, const std::string& name, LockMode mode) {
  for (;;) {
    int fd = ::openat(dirfd, name.c_str(), O_RDONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) throw_sys("cannot open lock file " + name);
    UniqueFd f(fd);
    if (!try_lock_fd(fd, mode, name)) return FileLock();
    if (still_named(dirfd, name, fd)) return FileLock(std::move(f));
  }
}

void FileLock::remove(int dirfd, const std::string& name) {
  if (fd_ && ::unlinkat(dirfd, name.c_str(), 0) < 0 && errno != ENOENT) throw_sys("cannot remove lock file " + name);
  fd_.reset();
}

}  // namespace pod
