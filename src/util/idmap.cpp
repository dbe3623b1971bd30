#include "util/idmap.hpp"

#include <fcntl.h>
#include <ftw.h>
#include <sys/stat.h>
#include <linux/mount.h>
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>

#include "util/error.hpp"
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
IdShift g_shift;  // nftw's callback takes no context
const char* g_failed = nullptr;
int g_errno = 0;

uint32_t shifted(uint32_t id) {
  if (id >= g_shift.base && id - g_shift.base < g_shift.count) return id;  // shifted already
  return id < g_shift.count ? g_shift.base + id : id;
}

int shift_one(const char* path, const struct stat* st, int, struct FTW*) {
  const uid_t uid = shifted(st->st_uid);
  const gid_t gid = shifted(st->st_gid);
  if (uid == st->st_uid && gid == st->st_gid) return 0;
  if (::lchown(path, uid, gid) < 0 ||
      (S_ISREG(st->st_mode) && (st->st_mode & (S_ISUID | S_ISGID)) && ::chmod(path, st->st_mode & 07777) < 0)) {
    g_failed = path;
    g_errno = errno;
    return 1;
  }
  return 0;
}
}  // namespace

void shift_tree_owners(const std::string& dir, const IdShift& shift) {
  g_shift = shift;
  g_failed = nullptr;
  std::string failed;
  const int rc = ::nftw(dir.c_str(), shift_one, 64, FTW_PHYS | FTW_MOUNT);
  if (g_failed) {
    failed = g_failed;
    errno = g_errno;
    throw_sys("cannot give " + failed + " the pod's ids");
  }
  if (rc < 0) throw_sys("cannot walk " + dir);
}

bool supports_idmapped_mounts(const std::string& dir, int userns) {
  UniqueFd tree = clone_tree(dir, false);
  return set_idmap(tree.get(), userns, false) == 0;
}

}  // namespace pod
