// File-system helpers that work relative to directory fds and never follow
// symlinks unless told to. Every fd they return is O_CLOEXEC.
#pragma once
#include <sys/stat.h>
#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "util/fd.hpp"

namespace pod {

// Open an existing directory by absolute or cwd-relative path.
// The path of this process's executable (/proc/self/exe); "" when it cannot be read.
std::string self_exe_path();
// pipe2(O_CLOEXEC): {read end, write end}.
std::pair<UniqueFd, UniqueFd> make_pipe();
UniqueFd open_dir(const std::string& path);
// Open directory `name` (one component or a relative path) beneath dirfd.
// The final component is never a symlink (O_NOFOLLOW).
UniqueFd open_dir_at(int dirfd, const std::string& name);
// Like open_dir_at but returns an empty fd when it does not exist (ENOENT).
UniqueFd try_open_dir_at(int dirfd, const std::string& name);

// Open `relpath` beneath dirfd so that resolution can never leave dirfd:
// openat2(RESOLVE_BENEATH|RESOLVE_NO_MAGICLINKS|RESOLVE_NO_SYMLINKS) where the
// kernel has it, otherwise a component-by-component O_NOFOLLOW walk.
// Rejects absolute paths and ".." components.
UniqueFd open_beneath(int dirfd, const std::string& relpath, int flags, mode_t mode = 0);

// openat2(2), shared by open_beneath() and open_in_root() (inroot.hpp).
// Where the kernel lacks it (before 5.6), or a seccomp filter refuses it,
// both fall back to walking the path one component at a time with
// O_NOFOLLOW. The fallback can be forced, so that it is tested on kernels
// that have openat2: POD_NO_OPENAT2=1 in the environment (any value but
// empty or "0"; read once, at the first use), or set_openat2_for_tests().
//
// openat2(dirfd, path, {flags | O_CLOEXEC, mode, resolve}): the fd, or -1
// with errno. When openat2 is not to be used (forced off, or found missing
// by an earlier call) it is not called: -1 with errno ENOSYS. A call that
// finds it missing (ENOSYS, or EPERM that "/" gets too) remembers that and
// also returns -1 with ENOSYS, so ENOSYS always means "take the fallback".
int openat2_or_enosys(int dirfd, const std::string& path, int flags, mode_t mode, uint64_t resolve);

// Whether openat2 is used (not forced off, not known to be missing).
bool openat2_enabled();
// false: force the fallbacks in this process; true: use openat2 where the
// kernel has it, whatever POD_NO_OPENAT2 says; nullopt: as POD_NO_OPENAT2 says.
void set_openat2_for_tests(std::optional<bool> enabled);

// Counts the fallback walks taken in this process, so tests can tell that
// the fallback really ran.
void note_openat2_fallback();
unsigned long openat2_fallbacks();

// mkdir -p of `relpath` beneath dirfd (no symlinks followed); returns the last dir's fd.
UniqueFd mkdirs_at(int dirfd, const std::string& relpath, mode_t mode = 0755);

bool exists_at(int dirfd, const std::string& name);
std::optional<struct stat> stat_at(int dirfd, const std::string& name);
struct stat stat_fd(int fd);

// Read a whole (small) file; throws if larger than max_size.
std::string read_file_at(int dirfd, const std::string& name, size_t max_size = 16 << 20);
std::optional<std::string> try_read_file_at(int dirfd, const std::string& name,
                                            size_t max_size = 16 << 20);
std::string read_file(const std::string& path, size_t max_size = 16 << 20);
// Read an open fd to its end (`name` is for messages).
std::string read_fd(int fd, const std::string& name, size_t max_size = 16 << 20);

// Durability of a write. kDurable: survives power loss once the call
// returns (fsync of file and directory). kVolatile: survives a crash of this
// process (the kernel has it) but not necessarily power loss; for files whose
// loss on power failure the store recovers from anyway (see pod-lifecycle.md).
enum class Durability { kDurable, kVolatile };

// Write `name` so that readers see either the old or the new content:
// temp file + renameat (+ fsync of file and dir when durable).
void write_file_atomic_at(int dirfd, const std::string& name, const std::string& content,
                          mode_t mode = 0644, Durability d = Durability::kDurable);
// Write (create/truncate) without the atomic dance (+ fsync when durable).
void write_file_at(int dirfd, const std::string& name, const std::string& content,
                   mode_t mode = 0644, Durability d = Durability::kDurable);

void fsync_fd(int fd, const std::string& what);

// Write all n bytes (at offset, or at the file offset when offset < 0); ENOSPC says "no space left on
// device (ENOSPC) while writing <what>; free some space (pod image gc) and retry".
void write_all(int fd, const void* data, size_t n, const std::string& what, int64_t offset = -1);
// Read fd from its offset to its end in chunks of up to 1 MiB, handing each to f.
void for_each_chunk(int fd, const std::string& what, const std::function<void(const char*, size_t)>& f);

// Remove `name` beneath dirfd recursively without following symlinks and
// without crossing into other mounts (a mount point below is an error:
// unmount first). Missing `name` is not an error.
void remove_tree_at(int dirfd, const std::string& name);

// Names in a directory (without "." and ".."), unsorted.
std::vector<std::string> list_dir(int dirfd);

// The kernel's current path of an open fd (/proc/self/fd/N).
std::string fd_path(int fd);

// Validate a relative path taken from untrusted input: not empty, not absolute,
// no "." or ".." components, no NUL. Returns it with duplicate slashes removed.
std::string clean_relative_path(const std::string& p);

}  // namespace pod
