#include "util/idmap.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <linux/mount.h>
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>

#include "util/error.hpp"
#include "util/fs.hpp"
#include "util/process.hpp"

namespace pod {

namespace {

UniqueFd clone_tree(const std::string& src, bool recursive) {
  const int fd = static_cast<int>(::syscall(SYS_open_tree, AT_FDCWD, src.c_str(),
                                            OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | (recursive ? AT_RECURSIVE : 0)));
  if (fd < 0) throw_sys("cannot clone the mount tree at " + src);
  return UniqueFd(fd);
}

// 0, or the errno of setting the idmap on the detached tree `tree`.
int set_idmap(int tree, int userns, bool recursive) {
  struct mount_attr attr {};
  attr.attr_set = MOUNT_ATTR_IDMAP;
  attr.userns_fd = static_cast<uint64_t>(userns);
  if (::syscall(SYS_mount_setattr, tree, "", AT_EMPTY_PATH | (recursive ? AT_RECURSIVE : 0), &attr, sizeof attr) < 0)
    return errno;
  return 0;
}

}  // namespace

void write_id_maps(pid_t pid, const IdShift& shift) {
  const std::string line = "0 " + std::to_string(shift.base) + " " + std::to_string(shift.count) + "\n";
  UniqueFd proc = open_dir("/proc/" + std::to_string(pid));
  for (const char* map : {"uid_map", "gid_map"}) write_file_at(proc.get(), map, line, 0, Durability::kVolatile);
}

UniqueFd make_user_namespace(const IdShift& shift) {
  int p[2];
  if (::pipe2(p, O_CLOEXEC) < 0) throw_sys("pipe");
  UniqueFd rd(p[0]), wr(p[1]);
  ChildOptions c;
  c.clone_flags = CLONE_NEWUSER;
  c.in = Redirect::null();
  Child holder = Child::start_function(
      [&] {
        wr.reset();
        char b;
        (void)!::read(rd.get(), &b, 1);  // until the parent has the namespace: EOF
        return 0;
      },
      c);
  rd.reset();
  write_id_maps(holder.pid(), shift);
  const std::string ns = "/proc/" + std::to_string(holder.pid()) + "/ns/user";
  UniqueFd fd(::open(ns.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) throw_sys("cannot open " + ns);
  wr.reset();
  holder.wait();
  return fd;
}

void idmapped_bind(const std::string& src, const std::string& dst, int userns, bool recursive) {
  UniqueFd tree = clone_tree(src, recursive);
  if (int err = set_idmap(tree.get(), userns, recursive)) {
    errno = err;
    if (err == EINVAL || err == EPERM || err == ENOSYS)
      throw_sys("cannot mount " + src + " idmapped (its filesystem or this kernel has no idmapped mounts)");
    throw_sys("cannot mount " + src + " idmapped");
  }
  if (::syscall(SYS_move_mount, tree.get(), "", AT_FDCWD, dst.c_str(), MOVE_MOUNT_F_EMPTY_PATH) < 0)
    throw_sys("cannot mount the idmapped " + src + " on " + dst);
}

namespace {

uint32_t shifted(uint32_t id, const IdShift& s) {
  if (id >= s.base && id - s.base < s.count) return id;  // shifted already
  return id < s.count ? s.base + id : id;
}

// `name` in `dirfd` (st: its lstat) and, for a directory, what is in it; never
// follows a symlink nor crosses into another mount (st_dev), as nftw's
// FTW_PHYS | FTW_MOUNT. `path` only names it in an error.
void shift_entry(int dirfd, const std::string& name, const struct stat& st, dev_t dev, const IdShift& s,
                 const std::string& path) {
  const uid_t uid = shifted(st.st_uid, s);
  const gid_t gid = shifted(st.st_gid, s);
  if (uid != st.st_uid || gid != st.st_gid) {
    if (::fchownat(dirfd, name.c_str(), uid, gid, AT_SYMLINK_NOFOLLOW) < 0)
      throw_sys("cannot give " + path + " the pod's ids");
    // chown clears the setuid and setgid bits: the file keeps them.
    if (S_ISREG(st.st_mode) && (st.st_mode & (S_ISUID | S_ISGID)) && ::fchmodat(dirfd, name.c_str(), st.st_mode & 07777, 0) < 0)
      throw_sys("cannot give " + path + " back its mode");
  }
  if (!S_ISDIR(st.st_mode)) return;
  UniqueFd dir(::openat(dirfd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!dir) throw_sys("cannot open " + path);
  for (const auto& n : list_dir(dir.get())) {
    auto sub = stat_at(dir.get(), n);
    if (sub && sub->st_dev == dev) shift_entry(dir.get(), n, *sub, dev, s, path + "/" + n);
  }
}

}  // namespace

void shift_tree_owners(const std::string& dir, const IdShift& shift) {
  struct stat st;
  if (::lstat(dir.c_str(), &st) < 0) throw_sys("cannot walk " + dir);
  shift_entry(AT_FDCWD, dir, st, st.st_dev, shift, dir);
}

bool supports_idmapped_mounts(const std::string& dir, int userns) {
  UniqueFd tree = clone_tree(dir, false);
  return set_idmap(tree.get(), userns, false) == 0;
}

}  // namespace pod
