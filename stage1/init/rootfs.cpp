#include "rootfs.hpp"

#include <fcntl.h>
#include <linux/magic.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cerrno>
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <sstream>
#include <vector>

#include "log.hpp"
#include "masks.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"
#include "util/inroot.hpp"

namespace pod::init {

namespace {

void do_mount(const std::string& src, const std::string& dst, const char* type, unsigned long flags,
              const char* data = nullptr) {
  if (::mount(src.c_str(), dst.c_str(), type, flags, data) < 0)
    throw_sys("cannot mount " + (src.empty() ? std::string(type ? type : "") : src) + " on " + dst);
}

bool is_fs(const char* path, long magic) {
  struct statfs s;
  return ::statfs(path, &s) == 0 && s.f_type == magic;
}

void make_dev_node(const char* name, mode_t mode, unsigned maj, unsigned min) {
  std::string p = std::string("/dev/") + name;
  if (::mknod(p.c_str(), mode | 0666, makedev(maj, min)) < 0 && errno != EEXIST) throw_sys("cannot create " + p);
  ::chmod(p.c_str(), 0666);
}

void mount_minimal_dev() {
  do_mount("tmpfs", "/dev", "tmpfs", MS_NOSUID | MS_NOEXEC | MS_STRICTATIME, "mode=755");
  make_dev_node("null", S_IFCHR, 1, 3);
  make_dev_node("zero", S_IFCHR, 1, 5);
  make_dev_node("full", S_IFCHR, 1, 7);
  make_dev_node("random", S_IFCHR, 1, 8);
  make_dev_node("urandom", S_IFCHR, 1, 9);
  make_dev_node("tty", S_IFCHR, 5, 0);
  make_dev_node("console", S_IFCHR, 5, 1);
  ::mkdir("/dev/pts", 0755);
  do_mount("devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666,mode=620");
  if (::symlink("pts/ptmx", "/dev/ptmx") < 0 && errno != EEXIST) throw_sys("cannot create /dev/ptmx");
  ::mkdir("/dev/shm", 01777);
  do_mount("tmpfs", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777");
}

// Is `fd` on another file system than the app's root, i.e. in a volume?
bool on_other_mount(int fd, int rootfd) {
  return stat_fd(fd).st_dev != stat_fd(rootfd).st_dev;
}

// Write /etc/<name> in the app's rootfs unless the image or a volume provides
// it and we were not asked to replace it. A file in a volume is never written:
// it belongs to the host or to other apps.
void write_etc_file(int rootfd, const std::string& name, const std::string& content, bool asked,
                    const std::string& app) {
  std::string path = "/etc/" + name;
  if (UniqueFd existing = try_open_in_root(rootfd, path, O_PATH)) {
    if (on_other_mount(existing.get(), rootfd)) {
      if (asked) log_warn("app " + app + ": " + path + " comes from a volume, not replacing it");
      return;
    }
    if (!asked) return;
  }
  UniqueFd etc = mkdirs_in_root(rootfd, "/etc");
  if (on_other_mount(etc.get(), rootfd)) {
    log_warn("app " + app + ": /etc comes from a volume, not writing " + path);
    return;
  }
  write_file_atomic_at(etc.get(), name, content, 0644, Durability::kVolatile);
}

std::string hosts_file(const Runtime& rt) {
  std::string s = "127.0.0.1\tlocalhost localhost.localdomain\n::1\tlocalhost ip6-localhost ip6-loopback\n";
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) == 0 && host[0]) s += std::string("127.0.1.1\t") + host + "\n";
  for (const auto& e : rt.hosts_entries) s += e.ip + "\t" + e.host + "\n";
  return s;
}

void write_network_files(int rootfd, const App& app, const Runtime& rt) {
  write_etc_file(rootfd, "hosts", hosts_file(rt), !rt.hosts_entries.empty(), app.name);
  // kHostResolvConf is what the stage1 offers: the host's file (net=host,
  // --dns=host) or the one of the pod's CNI networks.
  const auto offered = try_read_file_at(AT_FDCWD, kHostResolvConf);
  const bool host_file = rt.dns.size() == 1 && rt.dns[0] == "host";
  if (!host_file && (!rt.dns.empty() || !rt.dns_search.empty() || !rt.dns_options.empty())) {
    std::string s;
    for (const auto& d : rt.dns) s += "nameserver " + d + "\n";
    if (rt.dns.empty() && offered) {  // --dns-search/--dns-opt alone: keep the offered name servers
      size_t i = 0;
      while (i < offered->size()) {
        size_t j = offered->find('\n', i);
        if (j == std::string::npos) j = offered->size();
        if (offered->compare(i, 11, "nameserver ") == 0) s += offered->substr(i, j - i) + "\n";
        i = j + 1;
      }
    }
    auto line = [&](const char* key, const std::vector<std::string>& v) {
      if (v.empty()) return;
      s += key;
      for (const auto& x : v) s += " " + x;
      s += "\n";
    };
    line("search", rt.dns_search);
    line("options", rt.dns_options);
    write_etc_file(rootfd, "resolv.conf", s, true, app.name);
  } else if (offered) {
    write_etc_file(rootfd, "resolv.conf", *offered, host_file, app.name);
  }
}

std::string volume_source(const Volume& v) {
  return (v.kind == "host" ? std::string(kHostVolumesDir) : kEmptyVolumesDir) + "/" + v.name;
}

// An empty volume's backing dir, made here when stage0 did not.
void ensure_empty_volume(const Volume& v) {
  std::string dir = std::string(kEmptyVolumesDir) + "/" + v.name;
  if (::mkdir(kEmptyVolumesDir.c_str(), 0755) < 0 && errno != EEXIST) throw_sys("cannot create " + std::string(kEmptyVolumesDir));
  if (::mkdir(dir.c_str(), v.mode) == 0) {
    if (::chown(dir.c_str(), v.uid, v.gid) < 0 || ::chmod(dir.c_str(), v.mode) < 0) throw_sys("cannot set up " + dir);
  } else if (errno != EEXIST) {
    throw_sys("cannot create " + dir);
  }
}

// The mount target for `m` beneath the app's root, created when missing
// (directory, or an empty file when the source is a file); never outside it.
UniqueFd mount_target(int rootfd, const std::string& path, bool source_is_dir) {
  if (source_is_dir) return mkdirs_in_root(rootfd, path);
  if (UniqueFd fd = try_open_in_root(rootfd, path, O_PATH)) return fd;
  auto slash = path.rfind('/');
  UniqueFd parent = mkdirs_in_root(rootfd, path.substr(0, slash));
  std::string base = path.substr(slash + 1);
  int fd = ::openat(parent.get(), base.c_str(), O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
  if (fd < 0 && errno != EEXIST) throw_sys("cannot create mount target " + path);
  if (fd >= 0) ::close(fd);
  return open_in_root(rootfd, path, O_PATH);
}

// Bind src on the (already resolved) target fd. The read-only remount needs
// the new mount, so it goes through the target's path, which the walk crosses.
void bind_at(const std::string& src, int target_fd, bool read_only, bool recursive = true) {
  do_mount(src, proc_fd_path(target_fd), nullptr, recursive ? MS_BIND | MS_REC : MS_BIND);
  if (read_only) do_mount("", fd_path(target_fd), nullptr, MS_BIND | MS_REMOUNT | MS_RDONLY);
}

}  // namespace

std::string app_rootfs(const std::string& app) { return "/" + poddir::app_rootfs(app); }

std::string app_notify_source(const std::string& app) {
  const char* dir = ::getenv("POD_APP_NOTIFY_DIR");
  if (!dir || !*dir) return "";
  std::string path = std::string(dir) + "/" + app;
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode) ? path : "";
}

void ensure_api_filesystems() {
  if (!is_fs("/proc", PROC_SUPER_MAGIC)) {
    ::mkdir("/proc", 0555);
    do_mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC);
  }
  if (!is_fs("/sys", SYSFS_MAGIC)) {
    ::mkdir("/sys", 0555);
    do_mount("sysfs", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC);
  }
  if (::access("/dev/null", F_OK) < 0) {
    ::mkdir("/dev", 0755);
    mount_minimal_dev();
  }
}

void prepare_app_rootfs(const App& app, const PodConfig& cfg) {
  const std::string root = app_rootfs(app.name);
  // Its own mount point: chroot target, read-only remount, and enter all
  // refer to this mount, not to whatever the stage1 tree sits on.
  do_mount(root, root, nullptr, MS_BIND | MS_REC);
  UniqueFd rootfd = open_dir(root);

  write_network_files(rootfd.get(), app, cfg.runtime);

  for (const char* api : {"/proc", "/sys", "/dev"}) {
    UniqueFd target = mkdirs_in_root(rootfd.get(), api);
    bind_at(api, target.get(), false);
  }
  // What is mounted below the app's root from here on (masks, volumes) stays
  // there: the /proc, /sys and /dev binds are peers of the pod's own, which
  // would otherwise get every app's masks (and each app every other's).
  do_mount("", root, nullptr, MS_REC | MS_SLAVE);
  if (app.mask_paths) mask_paths(root);
  for (const auto& m : app.mounts) {
    const Volume& v = *cfg.volume(m.volume);
    if (v.kind == "empty") ensure_empty_volume(v);
    std::string src = volume_source(v);
    struct stat st;
    if (::stat(src.c_str(), &st) < 0) throw_sys("volume " + v.name + ": source " + src);
    UniqueFd target = mount_target(rootfd.get(), m.path, S_ISDIR(st.st_mode));
    log_debug("app " + app.name + ": volume " + v.name + " at " + m.path + (v.read_only || m.read_only ? " (ro)" : ""));
    bind_at(src, target.get(), v.read_only || m.read_only, v.recursive);
  }
  // After the volumes, so that a volume at /run does not hide it.
  if (std::string notify = app_notify_source(app.name); !notify.empty()) {
    UniqueFd target = mount_target(rootfd.get(), kAppNotifySocket, false);
    log_debug("app " + app.name + ": sd_notify socket at " + kAppNotifySocket);
    bind_at(notify, target.get(), false);
  }
  if (app.read_only_rootfs) do_mount("", root, nullptr, MS_BIND | MS_REMOUNT | MS_RDONLY);
}

// Detach every mount at or below `root` (deepest first): an app's rootfs
// with its /proc, /dev, volumes, … when it is removed from a running pod.
void unmount_tree(const std::string& root) {
  std::vector<std::string> points;
  if (auto text = try_read_file_at(AT_FDCWD, "/proc/self/mountinfo", 8 << 20)) {
    size_t i = 0;
    while (i < text->size()) {
      size_t j = text->find('\n', i);
      if (j == std::string::npos) j = text->size();
      std::istringstream line(text->substr(i, j - i));
      std::string id, parent, dev, r, mp;
      if (line >> id >> parent >> dev >> r >> mp && (mp == root || mp.rfind(root + "/", 0) == 0)) points.push_back(mp);
      i = j + 1;
    }
  }
  std::sort(points.begin(), points.end(), [](const auto& a, const auto& b) { return a.size() > b.size(); });
  for (const auto& mp : points)
    if (::umount2(mp.c_str(), MNT_DETACH) < 0 && errno != EINVAL && errno != ENOENT)
      log_warn("cannot unmount " + mp + ": " + std::strerror(errno));
}

}  // namespace pod::init
