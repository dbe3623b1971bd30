// Paths inside an untrusted tree (an app's rootfs) resolved as if the tree
// were "/": symlinks and ".." are followed but can never leave it.
#pragma once
#include <sys/types.h>

#include <string>

#include "util/fd.hpp"

namespace pod {

// Open `path` (absolute or relative, taken inside the tree at rootfd) with
// openat2(RESOLVE_IN_ROOT|RESOLVE_NO_MAGICLINKS). Without openat2 (old
// kernels, or forced off: see openat2_enabled() in fs.hpp) it takes
// open_beneath()'s walk, which refuses symlinks and ".." altogether (a
// symlink in a parent reads as missing). Throws on failure; the Error's
// errnum() is the errno (ENOENT when missing).
UniqueFd open_in_root(int rootfd, const std::string& path, int flags, mode_t mode = 0);
// Same, but an empty fd when the path (or a parent) does not exist.
UniqueFd try_open_in_root(int rootfd, const std::string& path, int flags, mode_t mode = 0);

// mkdir -p of `path` inside the tree: missing components are created with
// `mode` (owned by the caller); existing symlinks are resolved inside the tree.
// Returns an O_RDONLY|O_DIRECTORY fd of the final directory.
UniqueFd mkdirs_in_root(int rootfd, const std::string& path, mode_t mode = 0755);

// "/proc/self/fd/N": a path naming exactly what fd refers to, for syscalls
// that only take paths (mount(2)). The fd must stay open while it is used.
std::string proc_fd_path(int fd);

}  // namespace pod
