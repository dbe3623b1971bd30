#include "images/extract.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <set>
#include <vector>

#include "appc/image_manifest.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"

namespace pod::images {

void ArchiveDeleter::operator()(struct archive* a) const { archive_read_free(a); }

void throw_archive(struct archive* a, const std::string& what) {
  const char* m = archive_error_string(a);
  int err = archive_errno(a);
  throw Error(what + ": " + (m ? m : "unknown libarchive error"), err > 0 ? err : 0);
}

Error size_limit_error(uint64_t limit) {
  return Error("image is over the uncompressed size limit of " + std::to_string(limit) +
              " bytes (--max-image-size, images.maxUncompressedSize in the configuration); refusing it", EFBIG);
}

Error entries_limit_error(uint64_t limit) {
  return Error("image archive has more than " + std::to_string(limit) +
              " entries, the limit (--max-image-entries, images.maxEntries in the configuration); refusing it", EFBIG);
}

namespace {

constexpr uint64_t kSpaceReserve = 16 << 20;
constexpr uint64_t kSpaceCheckEvery = 32 << 20;

std::vector<std::string> split(const std::string& p) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i <= p.size()) {
    size_t j = p.find('/', i);
    if (j == std::string::npos) j = p.size();
    if (j > i) out.push_back(p.substr(i, j - i));
    i = j + 1;
  }
  return out;
}

std::string join(const std::vector<std::string>& c, size_t from, size_t to) {
  std::string s;
  for (size_t i = from; i < to; ++i) s += (s.empty() ? "" : "/") + c[i];
  return s;
}

// Entry names as written in the archive -> cleaned components; refuses
// absolute names and "..".
std::vector<std::string> clean_entry(const std::string& raw, const char* what) {
  if (raw.empty()) throw Error(std::string(what) + " has an empty name");
  if (raw[0] == '/') throw Error(std::string(what) + " \"" + raw + "\" is an absolute path; image entries must be relative");
  std::vector<std::string> out;
  for (auto& c : split(raw)) {
    if (c == "..") throw Error(std::string(what) + " \"" + raw + "\" contains a \"..\" component");
    if (c != ".") out.push_back(c);
  }
  return out;
}

struct DirMeta {
  std::string rel;
  mode_t mode;
  uid_t uid;
  gid_t gid;
  struct timespec mtime;
};

class Extractor {
 public:
  Extractor(struct archive* a, int dirfd, const ExtractOptions& o) : a_(a), dirfd_(dirfd), o_(o) {}

  ExtractResult run() {
    if (o_.write && !o_.rootfs_only && ::mkdirat(dirfd_, "rootfs", 0755) < 0 && errno != EEXIST)
      throw_sys("cannot create rootfs");
    struct archive_entry* e;
    for (;;) {
      int r = archive_read_next_header(a_, &e);
      if (r == ARCHIVE_EOF) break;
      if (r == ARCHIVE_FATAL || r == ARCHIVE_FAILED) {
        if (res_.entries == 0) throw_archive(a_, "unknown image type (not a tar archive, or compressed with an unsupported method)");
        throw_archive(a_, "corrupt or truncated image archive");
      }
      if (++res_.entries > o_.max_entries) throw entries_limit_error(o_.max_entries);
      entry(e);
    }
    if (o_.need_manifest && res_.manifest.is_null())
      throw Error("invalid image: the archive has no manifest file");
    if (o_.need_manifest && !seen_rootfs_)
      throw Error("invalid image: the archive has a manifest but no rootfs/ directory; an ACI must have one");
    if (o_.write) apply_dir_meta();
    return std::move(res_);
  }

 private:
  // An entry's (or hardlink target's) name as components of the ACI layout:
  // a layer's rootfs-relative names get the "rootfs" prefix.
  std::vector<std::string> components(const std::string& raw, const char* what) const {
    auto comps = clean_entry(raw, what);
    if (o_.layer) comps.insert(comps.begin(), "rootfs");
    return comps;
  }

  void entry(struct archive_entry* e) {
    const char* pn = archive_entry_pathname(e);
    std::string raw = pn ? pn : "";
    auto comps = components(raw, "image entry");
    if (comps.empty()) return;  // "." or "./"
    const mode_t type = archive_entry_filetype(e);
    const std::string full = join(comps, 0, comps.size());
    if (o_.layer && comps.size() > 1 && comps.back().rfind(".wh.", 0) == 0) {
      whiteout(e, comps, raw);
      return;
    }
    if (!o_.layer && comps[0] == "manifest" && comps.size() == 1) {
      if (!seen_.insert(full).second) throw Error("invalid image: duplicate manifest entry");
      if (type != AE_IFREG) throw Error("invalid image: manifest is not a regular file");
      read_manifest(e);
      return;
    }
    if (comps[0] != "rootfs")
      throw Error("invalid image: entry \"" + raw + "\" is outside manifest and rootfs/");
    if (!seen_.insert(full).second && !o_.layer) throw Error("invalid image: duplicate entry \"" + raw + "\"");
    if (o_.layer) written_.insert(full);
    seen_rootfs_ = true;
    const std::string rel = join(comps, 1, comps.size());  // rootfs-relative
    if (comps.size() == 1) {
      if (type != AE_IFDIR) throw Error("invalid image: rootfs is not a directory");
      if (!o_.rootfs_only && o_.write) dirs_.push_back(meta_of(e, "rootfs"));
      return;
    }
    const std::string target = o_.rootfs_only ? rel : full;
    const char tc = type_char(e, raw);
    if (tc != 'd' && o_.keep && !o_.keep(rel)) {
      filtered_.insert(full);
      return;
    }
    if (tc == 'h') {
      auto t = components(archive_entry_hardlink(e), "hardlink target of image entry");
      if (filtered_.count(join(t, 0, t.size()))) return;  // its target was left out by a pathWhitelist
    }
    if (o_.observe) o_.observe(rel, tc, archive_entry_perm(e));
    if (tc == 'c' || tc == 'b') {
      res_.has_devices = true;
      if (!o_.allow_devices)
        throw Error("image entry \"" + raw + "\" is a device node; device nodes are refused unless --allow-devices is given");
    }
    if (tc == 'h') check_hardlink(e, raw);
    if (tc == 'f') {
      declared_bytes_ += static_cast<uint64_t>(std::max<la_int64_t>(archive_entry_size(e), 0));
      if (o_.max_bytes && o_.max_bytes_used + declared_bytes_ > o_.max_bytes) throw size_limit_error(o_.max_bytes);  // before writing a byte of it
    }
    if (tc == 'f' && !o_.write) res_.bytes += static_cast<uint64_t>(archive_entry_size(e));
    if (!o_.write) {
      if (tc == 'f') regular_.insert(full);
      return;
    }
    write_entry(e, tc, raw, target, comps.back());
    if (tc == 'f') regular_.insert(full);
  }

  char type_char(struct archive_entry* e, const std::string& raw) {
    if (archive_entry_hardlink(e)) return 'h';
    switch (archive_entry_filetype(e)) {
      case AE_IFREG: return 'f';
      case AE_IFDIR: return 'd';
      case AE_IFLNK: return 'l';
      case AE_IFCHR: return 'c';
      case AE_IFBLK: return 'b';
      case AE_IFIFO: return 'p';
      default: throw Error("image entry \"" + raw + "\" has an unsupported type (socket or unknown)");
    }
  }

  void check_hardlink(struct archive_entry* e, const std::string& raw) {
    auto t = components(archive_entry_hardlink(e), "hardlink target of image entry");
    std::string tfull = join(t, 0, t.size());
    if (t.size() < 2 || t[0] != "rootfs")
      throw Error("image entry \"" + raw + "\" is a hardlink to \"" + tfull + "\", outside rootfs/");
    if (!regular_.count(tfull) && o_.layer && o_.whiteouts == ExtractOptions::Whiteouts::Overlay)
      throw Error("layer entry \"" + raw + "\" is a hardlink to \"" + tfull.substr(7) +
                  "\" of a lower layer, which a stacked layer cannot hold; run the image with --no-overlay");
    if (!regular_.count(tfull) && o_.layer && o_.write) {
      // Flattening: the target may come from a lower layer already in the tree.
      const std::string tt = o_.rootfs_only ? join(t, 1, t.size()) : tfull;
      struct stat st;
      auto slash = tt.rfind('/');
      UniqueFd tp = slash == std::string::npos ? UniqueFd(::fcntl(dirfd_, F_DUPFD_CLOEXEC, 3))
                                               : try_open_beneath(tt.substr(0, slash));
      if (tp && ::fstatat(tp.get(), tt.substr(slash + 1).c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode))
        return;
    }
    if (!regular_.count(tfull))
      throw Error("image entry \"" + raw + "\" is a hardlink to \"" + tfull +
                  "\", which is not a regular file extracted before it");
  }

  void read_manifest(struct archive_entry* e) {
    if (archive_entry_size(e) > static_cast<la_int64_t>(appc::kMaxManifestSize))
      throw Error("invalid image: manifest is " + std::to_string(archive_entry_size(e)) + " bytes, over the " +
                  std::to_string(appc::kMaxManifestSize) + "-byte limit");
    std::string text;
    char buf[65536];
    for (;;) {
      la_ssize_t n = archive_read_data(a_, buf, sizeof buf);
      if (n < 0) throw_archive(a_, "cannot read the image manifest");
      if (n == 0) break;
      text.append(buf, static_cast<size_t>(n));
      if (text.size() > appc::kMaxManifestSize) throw Error("invalid image: manifest is over the size limit");
    }
    res_.manifest = appc::parse_image_manifest(text);
    res_.manifest_text = text;
    if (o_.write && o_.write_manifest && !o_.rootfs_only) write_file_atomic_at(dirfd_, "manifest", text, 0644);
  }

  static DirMeta meta_of(struct archive_entry* e, const std::string& rel) {
    DirMeta m{rel, static_cast<mode_t>(archive_entry_perm(e)), static_cast<uid_t>(archive_entry_uid(e)),
              static_cast<gid_t>(archive_entry_gid(e)), {archive_entry_mtime(e), archive_entry_mtime_nsec(e)}};
    return m;
  }

  // Opens (creating when missing, without following symlinks) the parent dir of target.
  UniqueFd open_parent(const std::string& target, const std::string& raw) {
    auto slash = target.rfind('/');
    if (slash == std::string::npos) return UniqueFd(::fcntl(dirfd_, F_DUPFD_CLOEXEC, 3));
    std::string parent = target.substr(0, slash);
    if (parent == cached_parent_ && cached_fd_) return UniqueFd(::fcntl(cached_fd_.get(), F_DUPFD_CLOEXEC, 3));
    UniqueFd fd;
    try {
      fd = open_beneath(dirfd_, parent, O_RDONLY | O_DIRECTORY);
    } catch (const Error& err) {
      if (err.errnum() != ENOENT)
        throw Error("image entry \"" + raw + "\": its parent directory cannot be opened without following a symlink (" +
                    err.what() + ")");
      try {
        fd = mkdirs_at(dirfd_, parent, 0755);
      } catch (const Error& err2) {
        throw Error("image entry \"" + raw + "\": cannot create its parent directory without following a symlink (" +
                    err2.what() + ")");
      }
    }
    cached_parent_ = parent;
    cached_fd_.reset(::fcntl(fd.get(), F_DUPFD_CLOEXEC, 3));
    return fd;
  }

  void make_room(int pfd, const std::string& leaf, char tc, const std::string& raw) {
    struct stat st;
    if (::fstatat(pfd, leaf.c_str(), &st, AT_SYMLINK_NOFOLLOW) < 0) {
      if (errno == ENOENT) return;
      throw_sys("cannot stat " + raw);
    }
    if (tc == 'd' && S_ISDIR(st.st_mode)) return;  // keep the dir, update its metadata
    if (!o_.overwrite) throw Error("image entry \"" + raw + "\" conflicts with an existing file");
    if (S_ISDIR(st.st_mode)) {
      // The cached parent may live below the dir we remove.
      cached_fd_.reset();
      cached_parent_.clear();
      remove_tree_at(pfd, leaf);
    } else if (::unlinkat(pfd, leaf.c_str(), 0) < 0) {
      throw_sys("cannot replace " + raw);
    }
  }

  void check_space(uint64_t need) {
    since_check_ += need;
    if (since_check_ < kSpaceCheckEvery && need < kSpaceCheckEvery) return;
    since_check_ = 0;
    struct statvfs vfs;
    if (::fstatvfs(dirfd_, &vfs) < 0) return;
    uint64_t avail = static_cast<uint64_t>(vfs.f_bavail) * vfs.f_frsize;
    if (avail < need + kSpaceReserve)
      throw Error("not enough free space to extract the image: " + std::to_string(need >> 20) + " MiB needed, " +
                  std::to_string(avail >> 20) + " MiB available; free some space (pod image gc) and retry", ENOSPC);
  }

  void set_owner_mode(int pfd, const std::string& leaf, struct archive_entry* e, bool is_link) {
    uid_t uid = static_cast<uid_t>(archive_entry_uid(e));
    gid_t gid = static_cast<gid_t>(archive_entry_gid(e));
    if (::fchownat(pfd, leaf.c_str(), uid, gid, AT_SYMLINK_NOFOLLOW) < 0 && !(errno == EPERM && ::geteuid() != 0))
      throw_sys("cannot set owner of " + leaf);
    if (!is_link && ::fchmodat(pfd, leaf.c_str(), static_cast<mode_t>(archive_entry_perm(e)), 0) < 0)
      throw_sys("cannot set mode of " + leaf);
    struct timespec ts[2] = {{archive_entry_mtime(e), archive_entry_mtime_nsec(e)},
                             {archive_entry_mtime(e), archive_entry_mtime_nsec(e)}};
    if (::utimensat(pfd, leaf.c_str(), ts, AT_SYMLINK_NOFOLLOW) < 0) throw_sys("cannot set times of " + leaf);
  }

  void set_xattrs(int fd, struct archive_entry* e, const std::string& raw) {
    if (archive_entry_xattr_reset(e) == 0) return;
    const char* name;
    const void* value;
    size_t size;
    while (archive_entry_xattr_next(e, &name, &value, &size) == ARCHIVE_OK) {
      const std::string n = name;
      if (n.rfind("trusted.overlay.", 0) == 0 || n.rfind("user.overlay.", 0) == 0)
        throw Error("image entry \"" + raw + "\" carries the overlayfs attribute " + n + "; refusing it");
      if (::fsetxattr(fd, name, value, size, 0) < 0 && errno != ENOTSUP)
        throw_sys("cannot set xattr " + std::string(name) + " on " + raw);
    }
  }

  UniqueFd try_open_beneath(const std::string& rel) {
    try {
      return open_beneath(dirfd_, rel, O_RDONLY | O_DIRECTORY);
    } catch (const Error& err) {
      if (err.errnum() == ENOENT) return UniqueFd();
      throw;
    }
  }

  // Did this layer write path, or anything below it?
  bool wrote(const std::string& path) const {
    if (written_.count(path)) return true;
    auto it = written_.lower_bound(path + "/");
    return it != written_.end() && it->rfind(path + "/", 0) == 0;
  }

  // .wh.NAME hides NAME of the lower layers; .wh..wh..opq hides all of its dir's lower contents.
  void whiteout(struct archive_entry* e, const std::vector<std::string>& comps, const std::string& raw) {
    const std::string& leaf = comps.back();
    const bool opaque = leaf == ".wh..wh..opq";
    if (!opaque && leaf.rfind(".wh..wh.", 0) == 0) return;  // aufs bookkeeping (.wh..wh.plnk, .wh..wh.aufs)
    const std::string name = opaque ? "" : leaf.substr(4);
    if (!opaque && (name.empty() || name == "." || name == ".."))
      throw Error("layer entry \"" + raw + "\" is a whiteout of an invalid name");
    ++res_.whiteouts;
    if (!o_.write) return;
    const size_t skip = o_.rootfs_only ? 1 : 0;
    const std::string dir = join(comps, skip, comps.size() - 1);  // may be "" (the target itself)
    const bool overlay = o_.whiteouts == ExtractOptions::Whiteouts::Overlay;
    if (overlay) {
      UniqueFd d = dir.empty() ? UniqueFd(::fcntl(dirfd_, F_DUPFD_CLOEXEC, 3)) : try_open_beneath(dir);
      if (!d) d = mkdirs_at(dirfd_, dir, 0755);
      if (opaque) {
        if (::fsetxattr(d.get(), "trusted.overlay.opaque", "y", 1, 0) < 0)
          throw_sys("cannot mark " + dir + " opaque for overlayfs (layer entry \"" + raw + "\")");
        return;
      }
      cached_fd_.reset();
      cached_parent_.clear();
      make_room(d.get(), name, 'w', raw);
      if (::mknodat(d.get(), name.c_str(), S_IFCHR | 0000, makedev(0, 0)) < 0)
        throw_sys("cannot create the overlayfs whiteout for layer entry \"" + raw + "\"");
      const struct timespec ts[2] = {{archive_entry_mtime(e), archive_entry_mtime_nsec(e)},
                                     {archive_entry_mtime(e), archive_entry_mtime_nsec(e)}};
      if (::utimensat(d.get(), name.c_str(), ts, AT_SYMLINK_NOFOLLOW) < 0)
        throw_sys("cannot set the times of the whiteout for layer entry \"" + raw + "\"");
      return;
    }
    UniqueFd d = dir.empty() ? UniqueFd(::fcntl(dirfd_, F_DUPFD_CLOEXEC, 3)) : try_open_beneath(dir);
    if (!d) return;  // nothing below to hide
    cached_fd_.reset();
    cached_parent_.clear();
    const std::string full_dir = join(comps, 0, comps.size() - 1);
    for (const auto& n : opaque ? list_dir(d.get()) : std::vector<std::string>{name}) {
      if (opaque && wrote(full_dir + "/" + n)) continue;  // this layer's own entries stay
      struct stat st;
      if (::fstatat(d.get(), n.c_str(), &st, AT_SYMLINK_NOFOLLOW) < 0) {
        if (errno == ENOENT) continue;
        throw_sys("cannot stat " + n + " for layer entry \"" + raw + "\"");
      }
      if (S_ISDIR(st.st_mode)) remove_tree_at(d.get(), n);
      else if (::unlinkat(d.get(), n.c_str(), 0) < 0) throw_sys("cannot apply layer entry \"" + raw + "\"");
    }
  }

  void write_entry(struct archive_entry* e, char tc, const std::string& raw, const std::string& target,
                   const std::string& leaf) {
    UniqueFd pfd = open_parent(target, raw);
    make_room(pfd.get(), leaf, tc, raw);
    switch (tc) {
      case 'd': {
        if (::mkdirat(pfd.get(), leaf.c_str(), 0700) < 0 && errno != EEXIST) throw_sys("cannot create " + raw);
        int fd = ::openat(pfd.get(), leaf.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0) throw_sys("cannot open " + raw);
        UniqueFd d(fd);
        set_xattrs(fd, e, raw);
        dirs_.push_back(meta_of(e, target));
        return;
      }
      case 'f': {
        la_int64_t size = archive_entry_size(e);
        check_space(static_cast<uint64_t>(size > 0 ? size : 0));
        int fd = ::openat(pfd.get(), leaf.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0) throw_sys("cannot create " + raw);
        UniqueFd f(fd);
        copy_data(fd, raw);
        if (size > 0 && ::ftruncate(fd, size) < 0) throw_sys("cannot size " + raw);
        // Start writing it back now: the tree's seal (syncfs) then has little left to wait for.
        if (size >= (256 << 10)) ::sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE);
        set_xattrs(fd, e, raw);
        res_.bytes += static_cast<uint64_t>(size > 0 ? size : 0);
        break;
      }
      case 'l': {
        const char* t = archive_entry_symlink(e);
        if (!t || !*t) throw Error("image entry \"" + raw + "\" is a symlink with an empty target");
        if (::symlinkat(t, pfd.get(), leaf.c_str()) < 0) throw_sys("cannot create symlink " + raw);
        set_owner_mode(pfd.get(), leaf, e, true);
        return;
      }
      case 'h': {
        auto t = components(archive_entry_hardlink(e), "hardlink target");
        std::string tt = o_.rootfs_only ? join(t, 1, t.size()) : join(t, 0, t.size());
        auto tslash = tt.rfind('/');
        UniqueFd tp = tslash == std::string::npos ? UniqueFd(::fcntl(dirfd_, F_DUPFD_CLOEXEC, 3))
                                                  : open_beneath(dirfd_, tt.substr(0, tslash), O_RDONLY | O_DIRECTORY);
        std::string tleaf = tslash == std::string::npos ? tt : tt.substr(tslash + 1);
        if (::linkat(tp.get(), tleaf.c_str(), pfd.get(), leaf.c_str(), 0) < 0) throw_sys("cannot create hardlink " + raw);
        return;  // shares the target's metadata
      }
      case 'c':
      case 'b':
      case 'p': {
        mode_t kind = tc == 'c' ? S_IFCHR : tc == 'b' ? S_IFBLK : S_IFIFO;
        if (::mknodat(pfd.get(), leaf.c_str(), kind | 0600, archive_entry_rdev(e)) < 0) throw_sys("cannot create " + raw);
        break;
      }
    }
    set_owner_mode(pfd.get(), leaf, e, false);
  }

  void copy_data(int fd, const std::string& raw) {
    const void* buf;
    size_t size;
    la_int64_t off;
    for (;;) {
      int r = archive_read_data_block(a_, &buf, &size, &off);
      if (r == ARCHIVE_EOF) return;
      if (r < ARCHIVE_WARN) throw_archive(a_, "corrupt or truncated image archive while reading " + raw);
      const char* p = static_cast<const char*>(buf);
      while (size > 0) {
        ssize_t n = ::pwrite(fd, p, size, off);
        if (n < 0) {
          if (errno == EINTR) continue;
          if (errno == ENOSPC)
            throw Error("no space left on device (ENOSPC) while extracting " + raw +
                            "; free some space (pod image gc) and retry", ENOSPC);
          throw_sys("cannot write " + raw);
        }
        p += n;
        size -= static_cast<size_t>(n);
        off += n;
      }
    }
  }

  void apply_dir_meta() {
    for (auto it = dirs_.rbegin(); it != dirs_.rend(); ++it) {
      UniqueFd fd = open_beneath(dirfd_, it->rel, O_RDONLY | O_DIRECTORY);
      if (::fchown(fd.get(), it->uid, it->gid) < 0 && !(errno == EPERM && ::geteuid() != 0))
        throw_sys("cannot set owner of " + it->rel);
      if (::fchmod(fd.get(), it->mode) < 0) throw_sys("cannot set mode of " + it->rel);
      struct timespec ts[2] = {it->mtime, it->mtime};
      if (::futimens(fd.get(), ts) < 0) throw_sys("cannot set times of " + it->rel);
    }
  }

  struct archive* a_;
  int dirfd_;
  const ExtractOptions& o_;
  ExtractResult res_;
  std::set<std::string> seen_, regular_, filtered_, written_;
  std::vector<DirMeta> dirs_;
  std::string cached_parent_;
  UniqueFd cached_fd_;
  uint64_t since_check_ = 0;
  uint64_t declared_bytes_ = 0;
  bool seen_rootfs_ = false;
};

}  // namespace

ExtractResult extract_aci(struct archive* a, int dirfd, const ExtractOptions& o) {
  return Extractor(a, dirfd, o).run();
}

}  // namespace pod::images
