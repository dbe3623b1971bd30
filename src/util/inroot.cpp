#include "util/inroot.hpp"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "util/error.hpp"
#include "util/fs.hpp"

namespace pod {

namespace {

// The path relative to the tree's root, without empty and "." components.
std::string relative_in_root(const std::string& path) {
  std::string out;
  size_t i = 0;
  while (i < path.size()) {
    size_t j = path.find('/', i);
    if (j == std::string::npos) j = path.size();
    std::string c = path.substr(i, j - i);
    if (!c.empty() && c != ".") out += (out.empty() ? "" : "/") + c;
    i = j + 1;
  }
  return out;
}

}  // namespace

UniqueFd try_open_in_root(int rootfd, const std::string& path, int flags, mode_t mode) {
  const std::string rel = relative_in_root(path);
  int fd = openat2_or_enosys(rootfd, rel.empty() ? "." : rel, flags, mode, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS);
  if (fd >= 0) return UniqueFd(fd);
  if (errno == ENOENT || errno == ENOTDIR) return UniqueFd();
  if (errno != ENOSYS) throw_sys("cannot open " + path + " in the app's root");
  // No openat2: open_beneath's walk, which refuses symlinks instead of resolving them in the tree.
  note_openat2_fallback();
  if (rel.empty()) {
    int d = ::openat(rootfd, ".", flags | O_CLOEXEC);
    if (d < 0) throw_sys("cannot open the app's root");
    return UniqueFd(d);
  }
  UniqueFd out;
  try {
    out = open_beneath(rootfd, rel, flags, mode);
  } catch (const Error& e) {
    if (e.errnum() == ENOENT || e.errnum() == ENOTDIR) return UniqueFd();
    throw;
  }
  // O_PATH without O_NOFOLLOW opens a final symlink itself instead of failing: refuse it here too.
  if ((flags & (O_PATH | O_NOFOLLOW)) == O_PATH && S_ISLNK(stat_fd(out.get()).st_mode))
    throw_errno(ELOOP, "cannot open " + path + " in the app's root without openat2: it is a symlink");
  return out;
}

UniqueFd open_in_root(int rootfd, const std::string& path, int flags, mode_t mode) {
  UniqueFd fd = try_open_in_root(rootfd, path, flags, mode);
  if (!fd) throw_errno(ENOENT, "cannot open " + path + " in the app's root");
  return fd;
}

UniqueFd mkdirs_in_root(int rootfd, const std::string& path, mode_t mode) {
  const std::string rel = relative_in_root(path);
  UniqueFd cur = open_in_root(rootfd, "", O_RDONLY | O_DIRECTORY);
  std::string prefix;
  size_t i = 0;
  while (i < rel.size()) {
    size_t j = rel.find('/', i);
    if (j == std::string::npos) j = rel.size();
    const std::string comp = rel.substr(i, j - i);
    prefix += (prefix.empty() ? "" : "/") + comp;
    i = j + 1;
    // Resolve the whole prefix from the root each time: a symlink component
    // must be followed inside the tree, not relative to the parent fd.
    UniqueFd next = try_open_in_root(rootfd, prefix, O_RDONLY | O_DIRECTORY);
    if (!next) {
      if (::mkdirat(cur.get(), comp.c_str(), mode) < 0 && errno != EEXIST)
        throw_sys("cannot create " + prefix + " in the app's root");
      next = open_in_root(rootfd, prefix, O_RDONLY | O_DIRECTORY);
    }
    cur = std::move(next);
  }
  return cur;
}

std::string proc_fd_path(int fd) { return "/proc/self/fd/" + std::to_string(fd); }

}  // namespace pod
