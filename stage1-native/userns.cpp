#include "userns.hpp"

#include <fcntl.h>
#include <signal.h>
#include <grp.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <linux/capability.h>
#include <linux/mount.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>

#include "common.hpp"
#include "contract/poddir.hpp"
#include "rootless/passt.hpp"
#include "supervise.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"

namespace pod::stage1 {

namespace {

void mnt(const std::string& src, const std::string& dst, const char* type, unsigned long flags, const char* data = nullptr) {
  if (::mount(src.empty() ? nullptr : src.c_str(), dst.c_str(), type, flags, data) < 0)
    throw_sys("cannot mount " + (src.empty() ? std::string(type ? type : "") : src) + " on " + dst);
}

void mkdir_if(const std::string& path, mode_t mode) {
  if (::mkdir(path.c_str(), mode) < 0 && errno != EEXIST) throw_sys("cannot create " + path);
}

void make_read_only_recursive(const std::string& path) {
  struct mount_attr attr {};
  attr.attr_set = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC;
  if (::syscall(SYS_mount_setattr, AT_FDCWD, path.c_str(), AT_RECURSIVE, &attr, sizeof attr) < 0)
    throw_sys("cannot make " + path + " read-only");
}

}  // namespace

void prepare_rootless_root(const std::string& root, bool host_net) {
  const std::string dev = root + "/dev";
  mkdir_if(dev, 0755);
  mnt("tmpfs", dev, "tmpfs", MS_NOSUID | MS_NOEXEC | MS_STRICTATIME, "mode=755");
  for (const char* node : {"null", "zero", "full", "random", "urandom", "tty"}) {
    const std::string target = dev + "/" + node;
    UniqueFd f(::open(target.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0666));
    if (!f) throw_sys("cannot create " + target);
    mnt(std::string("/dev/") + node, target, nullptr, MS_BIND);
  }
  mkdir_if(dev + "/pts", 0755);
  mnt("devpts", dev + "/pts", "devpts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666,mode=620");
  if (::symlink("pts/ptmx", (dev + "/ptmx").c_str()) < 0 && errno != EEXIST) throw_sys("cannot create " + dev + "/ptmx");
  mkdir_if(dev + "/shm", 01777);
  mnt("tmpfs", dev + "/shm", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777");
  mkdir_if(root + "/proc", 0555);
  mnt("proc", root + "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC);
  mkdir_if(root + "/sys", 0555);
  if (host_net) {
    mnt("/sys", root + "/sys", nullptr, MS_BIND | MS_REC);
    make_read_only_recursive(root + "/sys");
  } else {
    mnt("sysfs", root + "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_RDONLY);
  }
}

void start_pasta(const RunContext& o, pid_t pid) {
  // In the foreground, as this process's child, killed when this process ends (PR_SET_PDEATHSIG):
  // nothing outlives the pod's run, whether the pod ends or this process is killed. No forwarding
  // from the pod back to the host's ports (-T, -U): only what --publish asks.
  const std::string pid_file = o.pod_path + "/" + kPastaPidFile;
  if (::unlink(pid_file.c_str()) < 0 && errno != ENOENT) throw_sys("cannot remove " + pid_file);
  std::vector<std::string> argv = {"pasta", "--foreground", "--config-net", "--quiet", "--pid", pid_file,
                                   "-T", "none", "-U", "none"};
  for (auto& a : rootless::passt_forward_args(o.runtime.publish)) argv.push_back(std::move(a));
  // The path, not the pid: pasta would join the pid's user namespace, which is its own already.
  argv.insert(argv.end(), {"--netns", "/proc/" + std::to_string(pid) + "/ns/net"});
  ChildOptions c;
  c.in = Redirect::null();
  c.out = Redirect::null();
  c.on_destroy = ChildOptions::OnDestroy::kDetach;
  c.pre_exec = [] {
    if (::prctl(PR_SET_PDEATHSIG, SIGKILL) < 0) throw_sys("prctl(PR_SET_PDEATHSIG)");
  };
  Child pasta = Child::start(argv, c);
  // pasta writes its pid file once the namespace is configured.
  for (int i = 0; i < 10000; ++i) {
    if (auto code = pasta.try_wait())
      throw Error("pasta (the pod's user-mode network) failed: " + describe_status(*pasta.status()));
    if (auto s = try_read_file_at(AT_FDCWD, pid_file, 64); s && !s->empty()) return;
    ::usleep(1000);
  }
  pasta.kill_and_wait();
  throw Error("pasta (the pod's user-mode network) did not configure the pod's network within 10 s");
}

Child start_after_pasta(const std::vector<std::string>& argv, ChildOptions c, const RunContext& o) {
  int p[2];
  if (::pipe2(p, O_CLOEXEC) < 0) throw_sys("pipe");
  UniqueFd rd(p[0]), wr(p[1]);
  const std::vector<std::string> env = c.env.value_or(std::vector<std::string>{});
  const std::string path = c.path.empty() ? argv.front() : c.path;
  c.env.reset();
  // The child is set up (namespaces, root) by c.pre_exec, then waits for the go
  // before its exec: the apps must find the network configured.
  Child child = Child::start_function(
      [&] {
        wr.reset();
        // pasta opens this process's namespaces through /proc/<pid>/ns with a few capabilities
        // only, which the kernel allows only when ours are a subset: none until the exec, which
        // (as uid 0) gives them back.
        struct __user_cap_header_struct h {_LINUX_CAPABILITY_VERSION_3, 0};
        struct __user_cap_data_struct d[2] {};
        if (::syscall(SYS_capset, &h, d) < 0) return 1;
        char go;
        if (::read(rd.get(), &go, 1) != 1) return 1;  // run failed to start pasta: never exec the init
        std::vector<char*> a, e;
        for (const auto& s : argv) a.push_back(const_cast<char*>(s.c_str()));
        for (const auto& s : env) e.push_back(const_cast<char*>(s.c_str()));
        a.push_back(nullptr);
        e.push_back(nullptr);
        ::execve(path.c_str(), a.data(), e.data());
        return 127;
      },
      c);
  rd.reset();
  start_pasta(o, child.pid());
  if (::write(wr.get(), "x", 1) != 1) throw_sys("cannot start the pod init");
  return child;
}

UniqueFd prepare_private_users(const RunContext& o, int cgroup2_dir, const std::vector<V1Cgroup>& v1, ChildOptions& c) {
  const IdShift ids{o.runtime.private_users.base, o.runtime.private_users.count};
  if (cgroup2_dir >= 0) delegate_cgroup(cgroup2_dir, ids.base, "(cgroup2)");
  make_delegated_v1_cgroups(v1, ids.base);
  c.clone_flags |= CLONE_NEWUSER;
  c.after_spawn = [ids](pid_t pid) { write_id_maps(pid, ids); };
  return make_user_namespace(ids);
}

void remount_cwd_unlocked() {
  UniqueFd tree(static_cast<int>(::syscall(SYS_open_tree, AT_FDCWD, ".", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE)));
  if (!tree) throw_sys("cannot clone the stage1 root's mounts");
  if (::syscall(SYS_move_mount, tree.get(), "", AT_FDCWD, ".", MOVE_MOUNT_F_EMPTY_PATH) < 0)
    throw_sys("cannot mount the stage1 root's copy");
  if (::fchdir(tree.get()) < 0) throw_sys("cannot change into the stage1 root's copy");
}

void become_userns_root() {
  if (::setgroups(0, nullptr) < 0) throw_sys("cannot drop the supplementary groups in the pod's user namespace");
  if (::setresgid(0, 0, 0) < 0 || ::setresuid(0, 0, 0) < 0) throw_sys("cannot become uid 0 in the pod's user namespace");
}

CwdForClone::CwdForClone(const std::string& dir) : ours_(::open(".", O_PATH | O_DIRECTORY | O_CLOEXEC)) {
  if (!ours_) throw_sys("cannot open the working directory");
  if (::chdir(dir.c_str()) < 0) throw_sys("cannot change to " + dir);
}

CwdForClone::~CwdForClone() {
  if (::fchdir(ours_.get()) < 0) {
    ::perror("cannot return to the pod dir");
    ::abort();
  }
}

NetnsForClone::NetnsForClone(const std::string& pod_path) : ours_(::open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC)) {
  if (!ours_) throw_sys("cannot open /proc/self/ns/net");
  join_pod_netns(pod_path);
}

NetnsForClone::~NetnsForClone() {
  if (::setns(ours_.get(), CLONE_NEWNET) < 0) {
    // We would go on with the pod's network as ours (CNI teardown, portmap's rules): never.
    ::perror("cannot return to the host's network namespace");
    ::abort();
  }
}

}  // namespace pod::stage1
