// File-system helpers that work relative to directory fds and never follow
// symlinks unless told to. Every fd they return is O_CLOEXEC.
#pragma once
#include <sys/stat.h>
#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "util/fd.hpp"

namespace pod {

// Open an existing directory by absolute or cwd-relative path.
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
