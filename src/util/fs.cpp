#include "util/fs.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <vector>
#include <cstdlib>
#include <cstring>
#include <random>

#include "util/error.hpp"

namespace pod {

std::pair<UniqueFd, UniqueFd> make_pipe() {
  int p[2];
  if (::pipe2(p, O_CLOEXEC) < 0) throw_sys("pipe");
  return {UniqueFd(p[0]), UniqueFd(p[1])};
}

std::string self_exe_path() {
  char buf[4096];
  ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  return n <= 0 ? std::string() : std::string(buf, static_cast<size_t>(n));
}

namespace {

std::vector<std::string> split_path(const std::string& p) {
  std::vector<std::string> parts;
  size_t i = 0;
  while (i < p.size()) {
    size_t j = p.find('/', i);
    if (j == std::string::npos) j = p.size();
    if (j > i) parts.push_back(p.substr(i, j - i));
    i = j + 1;
  }
  return parts;
}

std::atomic<int> g_test_override{-1};  // -1: none, 0: off, 1: on
std::atomic<bool> g_missing{false};    // the kernel (or seccomp) refused openat2
std::atomic<unsigned long> g_fallbacks{0};

bool env_forces_off() {
  static const bool off = [] {
    const char* v = std::getenv("POD_NO_OPENAT2");
    return v && *v && std::strcmp(v, "0") != 0;
  }();
  return off;
}

long raw_openat2(int dirfd, const char* path, struct open_how* how) {
#ifdef SYS_openat2
  return ::syscall(SYS_openat2, dirfd, path, how, sizeof *how);
#else
  (void)dirfd, (void)path, (void)how;
  errno = ENOSYS;
  return -1;
#endif
}

// EPERM comes from the file (immutable, O_NOATIME) or from a seccomp filter
// that refuses the syscall; only the latter refuses O_PATH of "/" as well.
bool refused_everywhere(int err) {
  if (err == ENOSYS) return true;
  if (err != EPERM) return false;
  struct open_how how {};
  how.flags = O_PATH | O_CLOEXEC;
  long fd = raw_openat2(AT_FDCWD, "/", &how);
  if (fd >= 0) {
    ::close(static_cast<int>(fd));
    return false;
  }
  return errno == ENOSYS || errno == EPERM;
}

}  // namespace

bool openat2_enabled() {
  int o = g_test_override.load();
  bool wanted = o < 0 ? !env_forces_off() : o == 1;
  return wanted && !g_missing.load();
}

void set_openat2_for_tests(std::optional<bool> enabled) {
  g_test_override.store(enabled ? (*enabled ? 1 : 0) : -1);
  g_missing.store(false);  // probe again
}

int openat2_or_enosys(int dirfd, const std::string& path, int flags, mode_t mode, uint64_t resolve) {
  if (!openat2_enabled()) {
    errno = ENOSYS;
    return -1;
  }
  struct open_how how {};
  how.flags = static_cast<uint64_t>(flags | O_CLOEXEC);
  how.mode = (flags & (O_CREAT | O_TMPFILE)) ? mode : 0;
  how.resolve = resolve;
  long fd = raw_openat2(dirfd, path.c_str(), &how);
  if (fd >= 0) return static_cast<int>(fd);
  const int err = errno;
  if (refused_everywhere(err)) {
    g_missing.store(true);
    errno = ENOSYS;
  } else {
    errno = err;
  }
  return -1;
}

void note_openat2_fallback() { g_fallbacks.fetch_add(1); }
unsigned long openat2_fallbacks() { return g_fallbacks.load(); }

UniqueFd open_dir(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) throw_sys("cannot open directory " + path);
  return UniqueFd(fd);
}

UniqueFd open_dir_at(int dirfd, const std::string& name) {
  int fd = ::openat(dirfd, name.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) throw_sys("cannot open directory " + name);
  return UniqueFd(fd);
}

UniqueFd try_open_dir_at(int dirfd, const std::string& name) {
  int fd = ::openat(dirfd, name.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) {
    if (errno == ENOENT) return UniqueFd();
    throw_sys("cannot open directory " + name);
  }
  return UniqueFd(fd);
}

std::string clean_relative_path(const std::string& p) {
  if (p.empty()) throw Error("empty path");
  if (p.find('\0') != std::string::npos) throw Error("path contains a NUL byte");
  if (p[0] == '/') throw Error("path \"" + p + "\" is absolute, expected a relative path");
  std::string out;
  for (const auto& c : split_path(p)) {
    if (c == "..") throw Error("path \"" + p + "\" contains a \"..\" component");
    if (c == ".") continue;
    if (!out.empty()) out += '/';
    out += c;
  }
  if (out.empty()) throw Error("path \"" + p + "\" names no file");
  return out;
}

UniqueFd open_beneath(int dirfd, const std::string& relpath, int flags, mode_t mode) {
  const std::string rel = clean_relative_path(relpath);
  flags |= O_CLOEXEC;
  int fd = openat2_or_enosys(dirfd, rel, flags | O_NOFOLLOW, mode,
                             RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_SYMLINKS);
  if (fd >= 0) return UniqueFd(fd);
  if (errno != ENOSYS) throw_sys("cannot open " + rel);
  // Fallback: walk one component at a time, refusing symlinks everywhere.
  note_openat2_fallback();
  auto parts = split_path(rel);
  UniqueFd cur;
  int at = dirfd;
  for (size_t i = 0; i + 1 < parts.size(); ++i) {
    fd = ::openat(at, parts[i].c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) throw_sys("cannot open " + rel);
    cur.reset(fd);
    at = fd;
  }
  fd = ::openat(at, parts.back().c_str(), flags | O_NOFOLLOW, mode);
  if (fd < 0) throw_sys("cannot open " + rel);
  return UniqueFd(fd);
}

UniqueFd mkdirs_at(int dirfd, const std::string& relpath, mode_t mode) {
  auto parts = split_path(clean_relative_path(relpath));
  UniqueFd cur;
  int at = dirfd;
  for (const auto& c : parts) {
    if (::mkdirat(at, c.c_str(), mode) < 0 && errno != EEXIST) throw_sys("cannot create directory " + c);
    int fd = ::openat(at, c.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) throw_sys("cannot open directory " + c);
    cur.reset(fd);
    at = fd;
  }
  return cur;
}

bool exists_at(int dirfd, const std::string& name) {
  struct stat st;
  return ::fstatat(dirfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0;
}

std::optional<struct stat> stat_at(int dirfd, const std::string& name) {
  struct stat st;
  if (::fstatat(dirfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0) return st;
  if (errno == ENOENT || errno == ENOTDIR) return std::nullopt;
  throw_sys("cannot stat " + name);
}

struct stat stat_fd(int fd) {
  struct stat st;
  if (::fstat(fd, &st) < 0) throw_sys("fstat");
  return st;
}

std::string read_fd(int fd, const std::string& name, size_t max_size) {
  std::string out;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw_sys("cannot read " + name);
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
    if (out.size() > max_size)
      throw Error(name + " is larger than " + std::to_string(max_size) + " bytes");
  }
  return out;
}

std::optional<std::string> try_read_file_at(int dirfd, const std::string& name, size_t max_size) {
  int fd = ::openat(dirfd, name.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) {
    if (errno == ENOENT) return std::nullopt;
    throw_sys("cannot open " + name);
  }
  UniqueFd f(fd);
  return read_fd(fd, name, max_size);
}

std::string read_file_at(int dirfd, const std::string& name, size_t max_size) {
  auto r = try_read_file_at(dirfd, name, max_size);
  if (!r) throw_errno(ENOENT, "cannot open " + name);
  return *r;
}

std::string read_file(const std::string& path, size_t max_size) {
  return read_file_at(AT_FDCWD, path, max_size);
}

void fsync_fd(int fd, const std::string& what) {
  if (::fsync(fd) < 0 && errno != EINVAL && errno != EROFS) throw_sys("cannot fsync " + what);
}

namespace {
void write_all(int fd, const std::string& content, const std::string& name) {
  size_t off = 0;
  while (off < content.size()) {
    ssize_t n = ::write(fd, content.data() + off, content.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw_sys("cannot write " + name);
    }
    off += static_cast<size_t>(n);
  }
}
}  // namespace

void write_file_at(int dirfd, const std::string& name, const std::string& content, mode_t mode, Durability d) {
  int fd = ::openat(dirfd, name.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
  if (fd < 0) throw_sys("cannot create " + name);
  UniqueFd f(fd);
  write_all(fd, content, name);
  if (d == Durability::kDurable) fsync_fd(fd, name);
}

void write_file_atomic_at(int dirfd, const std::string& name_in, const std::string& content, mode_t mode,
                          Durability d) {
  // A path with directories: work inside its parent so the temp file and the
  // rename stay in one directory.
  if (auto slash = name_in.rfind('/'); slash != std::string::npos) {
    std::string parent = slash == 0 ? "/" : name_in.substr(0, slash);
    int pfd = ::openat(dirfd, parent.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (pfd < 0) throw_sys("cannot open directory " + parent);
    UniqueFd p(pfd);
    write_file_atomic_at(pfd, name_in.substr(slash + 1), content, mode, d);
    return;
  }
  const std::string& name = name_in;
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  std::string tmp = "." + name + ".tmp-" + std::to_string(::getpid()) + "-" + std::to_string(rng() % 1000000);
  try {
    write_file_at(dirfd, tmp, content, mode, d);
    if (::fchmodat(dirfd, tmp.c_str(), mode, 0) < 0) throw_sys("cannot chmod " + tmp);
    if (::renameat(dirfd, tmp.c_str(), dirfd, name.c_str()) < 0) throw_sys("cannot rename into " + name);
  } catch (...) {
    ::unlinkat(dirfd, tmp.c_str(), 0);
    throw;
  }
  if (d == Durability::kDurable) fsync_fd(dirfd, "directory of " + name);
}

std::vector<std::string> list_dir(int dirfd) {
  int fd = ::openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) throw_sys("cannot open directory for listing");
  DIR* d = ::fdopendir(fd);
  if (!d) {
    ::close(fd);
    throw_sys("fdopendir");
  }
  std::vector<std::string> out;
  errno = 0;
  while (struct dirent* e = ::readdir(d)) {
    if (std::strcmp(e->d_name, ".") == 0 || std::strcmp(e->d_name, "..") == 0) continue;
    out.emplace_back(e->d_name);
  }
  int err = errno;
  ::closedir(d);
  if (err) throw_errno(err, "readdir");
  return out;
}

namespace {
void remove_contents(int fd, dev_t dev, const std::string& path) {
  for (const auto& n : list_dir(fd)) {
    struct stat st;
    if (::fstatat(fd, n.c_str(), &st, AT_SYMLINK_NOFOLLOW) < 0) {
      if (errno == ENOENT) continue;
      throw_sys("cannot stat " + path + "/" + n);
    }
    if (S_ISDIR(st.st_mode)) {
      if (st.st_dev != dev)
        throw Error(path + "/" + n + " is still a mount point; unmount it first", EBUSY);
      int sub = ::openat(fd, n.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (sub < 0) {
        if (errno == ENOENT) continue;
        throw_sys("cannot open " + path + "/" + n);
      }
      UniqueFd s(sub);
      remove_contents(sub, dev, path + "/" + n);
      if (::unlinkat(fd, n.c_str(), AT_REMOVEDIR) < 0 && errno != ENOENT)
        throw_sys("cannot remove " + path + "/" + n);
    } else if (::unlinkat(fd, n.c_str(), 0) < 0 && errno != ENOENT) {
      throw_sys("cannot remove " + path + "/" + n);
    }
  }
}
}  // namespace

void remove_tree_at(int dirfd, const std::string& name) {
  struct stat st;
  if (::fstatat(dirfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) < 0) {
    if (errno == ENOENT) return;
    throw_sys("cannot stat " + name);
  }
  if (S_ISDIR(st.st_mode)) {
    int fd = ::openat(dirfd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) throw_sys("cannot open " + name);
    UniqueFd f(fd);
    remove_contents(fd, st.st_dev, name);
    if (::unlinkat(dirfd, name.c_str(), AT_REMOVEDIR) < 0 && errno != ENOENT) throw_sys("cannot remove " + name);
  } else if (::unlinkat(dirfd, name.c_str(), 0) < 0 && errno != ENOENT) {
    throw_sys("cannot remove " + name);
  }
}

std::string fd_path(int fd) {
  char buf[4096];
  std::string link = "/proc/self/fd/" + std::to_string(fd);
  ssize_t n = ::readlink(link.c_str(), buf, sizeof buf - 1);
  if (n < 0) throw_sys("cannot resolve " + link);
  return std::string(buf, static_cast<size_t>(n));
}

void write_all(int fd, const void* data, size_t n, const std::string& what, int64_t offset) {
  const char* p = static_cast<const char*>(data);
  while (n > 0) {
    ssize_t w = offset < 0 ? ::write(fd, p, n) : ::pwrite(fd, p, n, static_cast<off_t>(offset));
    if (w < 0) {
      if (errno == EINTR) continue;
      if (errno == ENOSPC)
        throw Error("no space left on device (ENOSPC) while writing " + what + "; free some space (pod image gc) and retry",
                    ENOSPC);
      throw_sys("cannot write " + what);
    }
    p += w;
    n -= static_cast<size_t>(w);
    if (offset >= 0) offset += w;
  }
}

void for_each_chunk(int fd, const std::string& what, const std::function<void(const char*, size_t)>& f) {
  std::vector<char> buf(1 << 20);
  for (;;) {
    ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      throw_sys("cannot read " + what);
    }
    if (n == 0) return;
    f(buf.data(), static_cast<size_t>(n));
  }
}

}  // namespace pod
