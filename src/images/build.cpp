#include "images/build.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <functional>
#include <map>
#include <memory>
#include <vector>

#include "appc/image_manifest.hpp"
#include "util/digest.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"

namespace pod::images {

namespace {

struct WriterDeleter {
  void operator()(struct archive* a) const { archive_write_free(a); }
};
struct EntryDeleter {
  void operator()(struct archive_entry* e) const { archive_entry_free(e); }
};

class Builder {
 public:
  Builder(struct archive* a, const BuildOptions& o) : a_(a), o_(o) {}

  void add(int dirfd, const std::string& name, const std::string& path) {
    struct stat st;
    if (::fstatat(dirfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) < 0) throw_sys("cannot stat " + path);
    std::unique_ptr<struct archive_entry, EntryDeleter> e(archive_entry_new());
    archive_entry_set_pathname(e.get(), path.c_str());
    archive_entry_set_uid(e.get(), st.st_uid);
    archive_entry_set_gid(e.get(), st.st_gid);
    archive_entry_set_perm(e.get(), st.st_mode & 07777);
    archive_entry_set_mtime(e.get(), o_.mtime ? *o_.mtime : st.st_mtim.tv_sec, 0);
    UniqueFd fd;
    if (!S_ISLNK(st.st_mode) && !S_ISCHR(st.st_mode) && !S_ISBLK(st.st_mode) && !S_ISFIFO(st.st_mode)) {
      int f = ::openat(dirfd, name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
      if (f < 0) throw_sys("cannot open " + path);
      fd.reset(f);
      add_xattrs(f, e.get(), path);
    }
    if (S_ISREG(st.st_mode) && st.st_nlink > 1) {
      auto key = std::make_pair(st.st_dev, st.st_ino);
      if (auto it = links_.find(key); it != links_.end()) {
        archive_entry_set_filetype(e.get(), AE_IFREG);
        archive_entry_set_hardlink(e.get(), it->second.c_str());
        archive_entry_set_size(e.get(), 0);
        write_header(e.get(), path);
        return;
      }
      links_[key] = path;
    }
    if (S_ISDIR(st.st_mode)) {
      archive_entry_set_filetype(e.get(), AE_IFDIR);
      write_header(e.get(), path);
      auto names = list_dir(fd.get());
      std::sort(names.begin(), names.end());
      for (const auto& n : names) add(fd.get(), n, path + "/" + n);
    } else if (S_ISREG(st.st_mode)) {
      archive_entry_set_filetype(e.get(), AE_IFREG);
      archive_entry_set_size(e.get(), st.st_size);
      write_header(e.get(), path);
      copy(fd.get(), path);
    } else if (S_ISLNK(st.st_mode)) {
      char buf[4096];
      ssize_t n = ::readlinkat(dirfd, name.c_str(), buf, sizeof buf);
      if (n < 0) throw_sys("cannot read link " + path);
      archive_entry_set_filetype(e.get(), AE_IFLNK);
      archive_entry_set_symlink(e.get(), std::string(buf, static_cast<size_t>(n)).c_str());
      write_header(e.get(), path);
    } else if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode) || S_ISFIFO(st.st_mode)) {
      archive_entry_set_filetype(e.get(), S_ISCHR(st.st_mode) ? AE_IFCHR : S_ISBLK(st.st_mode) ? AE_IFBLK : AE_IFIFO);
      archive_entry_set_rdev(e.get(), st.st_rdev);
      write_header(e.get(), path);
    } else {
      throw Error(path + " is a socket or of an unknown type; remove it from the image directory");
    }
  }

  // A regular file from memory (root's, 0644).
  void add_bytes(const std::string& path, const std::string& data) {
    std::unique_ptr<struct archive_entry, EntryDeleter> e(archive_entry_new());
    archive_entry_set_pathname(e.get(), path.c_str());
    archive_entry_set_filetype(e.get(), AE_IFREG);
    archive_entry_set_perm(e.get(), 0644);
    archive_entry_set_mtime(e.get(), o_.mtime ? *o_.mtime : ::time(nullptr), 0);
    archive_entry_set_size(e.get(), static_cast<la_int64_t>(data.size()));
    write_header(e.get(), path);
    if (!data.empty() && archive_write_data(a_, data.data(), data.size()) < 0)
      throw Error("cannot write " + path + " into the archive: " + archive_error_string(a_));
  }

 private:
  void add_xattrs(int fd, struct archive_entry* e, const std::string& path) {
    ssize_t len = ::flistxattr(fd, nullptr, 0);
    if (len <= 0) return;
    std::string names(static_cast<size_t>(len), '\0');
    len = ::flistxattr(fd, names.data(), names.size());
    if (len < 0) throw_sys("cannot list xattrs of " + path);
    std::vector<std::string> sorted;
    for (size_t i = 0; i < static_cast<size_t>(len); i += std::strlen(names.c_str() + i) + 1)
      sorted.emplace_back(names.c_str() + i);
    std::sort(sorted.begin(), sorted.end());
    for (const auto& n : sorted) {
      ssize_t vl = ::fgetxattr(fd, n.c_str(), nullptr, 0);
      if (vl < 0) continue;
      std::string v(static_cast<size_t>(vl), '\0');
      vl = ::fgetxattr(fd, n.c_str(), v.data(), v.size());
      if (vl < 0) continue;
      archive_entry_xattr_add_entry(e, n.c_str(), v.data(), static_cast<size_t>(vl));
    }
  }

  void write_header(struct archive_entry* e, const std::string& path) {
    if (archive_write_header(a_, e) < ARCHIVE_OK)
      throw Error("cannot write " + path + " into the archive: " + archive_error_string(a_));
  }

  void copy(int fd, const std::string& path) {
    for_each_chunk(fd, path, [&](const char* p, size_t n) {
      if (archive_write_data(a_, p, n) < 0)
        throw Error("cannot write " + path + " into the archive: " + archive_error_string(a_));
    });
  }

  struct archive* a_;
  const BuildOptions& o_;
  std::map<std::pair<dev_t, ino_t>, std::string> links_;
};

}  // namespace

namespace {
// OUT (a temp file beside it, fsync'ed, renamed over it: a crash leaves OUT
// as it was) with the entries `fill` adds; returns OUT's image ID.
std::string write_archive(const std::string& out, const BuildOptions& o, const std::function<void(Builder&)>& fill) {
  struct stat st;
  if (!o.overwrite && ::stat(out.c_str(), &st) == 0) throw Error(out + " exists; use --overwrite to replace it", EEXIST);
  const std::string tmp = out + ".tmp-" + std::to_string(::getpid());
  UniqueFd fd(::open(tmp.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644));
  if (!fd) throw_sys("cannot create " + tmp);
  try {
    std::unique_ptr<struct archive, WriterDeleter> a(archive_write_new());
    archive_write_set_format_pax_restricted(a.get());
    if (archive_write_open_fd(a.get(), fd.get()) != ARCHIVE_OK)
      throw Error(std::string("cannot write ") + out + ": " + archive_error_string(a.get()));
    Builder b(a.get(), o);
    fill(b);
    if (archive_write_close(a.get()) != ARCHIVE_OK)
      throw Error(std::string("cannot finish ") + out + ": " + archive_error_string(a.get()));
    fsync_fd(fd.get(), out);
    if (::lseek(fd.get(), 0, SEEK_SET) < 0) throw_sys("lseek");
    std::string id = "sha512-" + sha512_fd_hex(fd.get(), out);
    if (::rename(tmp.c_str(), out.c_str()) < 0) throw_sys("cannot rename into " + out);
    return id;
  } catch (...) {
    ::unlink(tmp.c_str());
    throw;
  }
}
}  // namespace

std::string build_aci(const std::string& dir, const std::string& out, const BuildOptions& o) {
  UniqueFd d = open_dir(dir);
  auto text = try_read_file_at(d.get(), "manifest", appc::kMaxManifestSize);
  if (!text) throw Error(dir + " has no manifest file; an image directory holds manifest and rootfs/");
  try {
    appc::parse_image_manifest(*text);
  } catch (const Error& e) {
    throw e.with_context(dir + "/manifest");
  }
  if (!try_open_dir_at(d.get(), "rootfs")) throw Error(dir + " has no rootfs/ directory");
  for (const auto& n : list_dir(d.get()))
    if (n != "manifest" && n != "rootfs") throw Error(dir + "/" + n + " is neither manifest nor rootfs; remove it");
  return write_archive(out, o, [&](Builder& b) {
    b.add(d.get(), "manifest", "manifest");
    b.add(d.get(), "rootfs", "rootfs");
  });
}

std::string write_aci(const std::string& manifest, int rootfs_parentfd, const std::string& rootfs_name,
                      const std::string& out, const BuildOptions& o) {
  try {
    appc::parse_image_manifest(manifest);
  } catch (const Error& e) {
    throw e.with_context("the manifest of " + out);
  }
  return write_archive(out, o, [&](Builder& b) {
    b.add_bytes("manifest", manifest);
    b.add(rootfs_parentfd, rootfs_name, "rootfs");
  });
}

}  // namespace pod::images
