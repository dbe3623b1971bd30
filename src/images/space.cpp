#include "images/space.hpp"

#include <sys/statvfs.h>

#include <cerrno>

#include "util/error.hpp"

namespace pod::images {

uint64_t mib_ceil(uint64_t bytes) { return (bytes + (1 << 20) - 1) >> 20; }

void throw_read_only_store(const std::string& where) {
  throw Error("the image store (" + where + ") is on a read-only file system; nothing can be written", EROFS);
}

void check_free_space(int dirfd, uint64_t need, const std::string& where) {
  struct statvfs vfs;
  if (::fstatvfs(dirfd, &vfs) < 0) throw_sys("cannot check the free space of the image store (" + where + ")");
  if (vfs.f_flag & ST_RDONLY) throw_read_only_store(where);
  const uint64_t avail = static_cast<uint64_t>(vfs.f_bavail) * vfs.f_frsize;
  if (need > avail)
    throw Error("not enough space in the image store (" + where + "): need ~" + std::to_string(mib_ceil(need)) +
                " MiB, " + std::to_string(avail >> 20) + " MiB free", ENOSPC);
}

}  // namespace pod::images
