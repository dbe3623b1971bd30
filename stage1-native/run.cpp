// stage1 native flavour: the run entrypoint (Documentation/stage1-native.md).
//
//   run [--debug] [--interactive] <uuid>     cwd = $P, env POD_LOCK_FD=<locked $P>
//
// Sets the pod up itself, without systemd-nspawn: one clone(2) into new
// mount, pid, uts, ipc (and, unless --net=host, network) namespaces; in the
// child, which is PID 1 of the new pid namespace: join the pod's cgroups
// (once, created beforehand by nobody else), unshare the cgroup namespace,
// bind the pod dir and the host volumes into the stage1 root, pivot into it,
// mount /proc, /sys and the cgroup2 tree, and exec the same pod init the
// other flavours run. The init then mounts /dev and sets up, isolates and
// supervises the apps as it does under nspawn. Supervision (pid file,
// readiness, signals, exit record) is stage1/supervise.cpp's.
#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "cgroupplaces.hpp"
#include "common.hpp"
#include "contract/poddir.hpp"
#include "net/cni/podnet.hpp"
#include "resources.hpp"
#include "supervise.hpp"
#include "userns.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"
#include "util/process.hpp"

using namespace pod;
using namespace pod::stage1;

namespace {

void do_mount(const std::string& src, const std::string& dst, const char* type, unsigned long flags,
              const char* data = nullptr) {
  if (::mount(src.empty() ? nullptr : src.c_str(), dst.c_str(), type, flags, data) < 0)
    throw_sys("cannot mount " + (src.empty() ? std::string(type ? type : "") : src) + " on " + dst);
}

// A bind mount, remounted read-only when asked (the remount needs the new mount).
void bind_mount(const std::string& src, const std::string& dst, bool recursive, bool read_only) {
  do_mount(src, dst, nullptr, MS_BIND | (recursive ? MS_REC : 0));
  if (read_only) do_mount("", dst, nullptr, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV);
}

void ensure_dir(const std::string& path) {
  if (::mkdir(path.c_str(), 0755) < 0 && errno != EEXIST) throw_sys("cannot create " + path);
}

// --net=none: a network namespace with nothing but a loopback that is up.
void loopback_up() {
  int s = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s < 0) throw_sys("socket");
  UniqueFd sock(s);
  struct ifreq ifr {};
  std::strcpy(ifr.ifr_name, "lo");
  if (::ioctl(s, SIOCGIFFLAGS, &ifr) < 0) throw_sys("cannot read the flags of lo");
  ifr.ifr_flags = static_cast<short>(ifr.ifr_flags | IFF_UP | IFF_RUNNING);
  if (::ioctl(s, SIOCSIFFLAGS, &ifr) < 0) throw_sys("cannot bring lo up");
}

// CNI networks: the pod joins the network namespace supervise.cpp made and
// configured at $P/netns; --net=none: a new one; --net=host: the host's.
unsigned long namespaces(const RunContext& o) {
  unsigned long flags = CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWUTS | CLONE_NEWIPC;
  if (!o.runtime.networks.empty()) return flags;
  if (o.runtime.net == "none" || o.runtime.net == contract::kNetPasta) flags |= CLONE_NEWNET;
  else if (o.runtime.net != "host") throw Error("runtime.json: net " + o.runtime.net + " names no networks");
  return flags;
}

// A rootless pod (stage0 made the user namespace) or --private-users (the clone makes it).
bool in_userns(const RunContext& o) { return o.runtime.rootless || o.runtime.private_users.count; }

// The stage1 root with the pod dir at /pod and the host volumes at
// /host-volumes/<name>, as systemd-nspawn's --bind options give the other flavour.
// What the pod sees of the host in the stage1 root: the pod dir at /pod (through
// an idmapped mount when `idmap_ns` is one), its v1 cgroups, the host volumes.
void bind_host_paths(const RunContext& o, const std::string& root, const std::vector<V1Cgroup>& v1_cgroups, int idmap_ns) {
  if (idmap_ns >= 0) idmapped_bind(o.pod_path, root + poddir::kPodInRoot, idmap_ns, false);
  // A --private-users pod's binds are made here, in the run process (which outlives the pod's netns bind
  // in the pod dir): without its submounts, as the idmapped one.
  else bind_mount(o.pod_path, root + poddir::kPodInRoot, !o.runtime.private_users.count, false);
  // The pod's v1 resource cgroups, where the init makes the apps' (stage1/resources.hpp), as nspawn's binds.
  for (const auto& cg : v1_cgroups) {
    const std::string target = root + kV1InRoot + "/" + cg.controller;
    for (const std::string& d : {root + "/run", root + kV1InRoot, target}) ensure_dir(d);
    bind_mount(cg.dir, target, false, false);
  }
  for (const auto& v : o.manifest.volumes) {
    if (v.kind != contract::VolumeKind::Host) continue;
    struct stat st;
    if (::stat(v.source.c_str(), &st) < 0) throw_sys("volume " + v.name + ": source " + v.source);
    std::string target = root + poddir::kHostVolumesInRoot + "/" + v.name;
    if (S_ISDIR(st.st_mode)) {
      ensure_dir(target);
    } else {
      int fd = ::open(target.c_str(), O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
      if (fd < 0) throw_sys("cannot create mount target " + target);
      ::close(fd);
    }
    bind_mount(v.source, target, v.recursive, v.read_only);
  }
}

// `root`: the stage1 rootfs; "." for a --private-users pod, whose run process
// bound the host's paths already (the child, the host's root no more, may not
// even look up the pod dir's path) and made the stage1 rootfs its cwd.
void assemble_root(const RunContext& o, const std::string& root, const std::vector<V1Cgroup>& v1_cgroups) {
  // Nothing we mount propagates back to the namespace stage0 made (or the host's).
  do_mount("", "/", nullptr, MS_REC | MS_PRIVATE);
  if (!o.runtime.private_users.count) {
    bind_mount(root, root, true, false);  // a mount point of its own: pivot_root needs one
    bind_host_paths(o, root, v1_cgroups, -1);
  } else {
    remount_cwd_unlocked();  // pivot_root refuses a mount that came locked from the host
  }
  // In a user namespace sysfs mounts only for a network namespace it owns: not the host's nor a CNI one.
  if (in_userns(o)) prepare_rootless_root(root, o.runtime.net == "host" || !o.runtime.networks.empty());
}

// /proc of the new pid namespace with the kernel's knobs read-only, a
// read-only /sys, and the pod's own cgroup2 tree (the cgroup namespace's
// root) at /sys/fs/cgroup: what systemd-nspawn gives its payload.
void mount_api_filesystems(bool private_net, bool rootless) {
  // A rootless pod's /proc and /sys were mounted before pivot_root (userns.hpp).
  ensure_dir("/proc");
  if (!rootless) do_mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC);
  for (const char* knob : {"/proc/sys", "/proc/sysrq-trigger"})
    if (::access(knob, F_OK) == 0) bind_mount(knob, knob, false, true);  // no sysrq-trigger without CONFIG_MAGIC_SYSRQ
  // A private network namespace may tune its own network.
  if (private_net) bind_mount("/proc/sys/net", "/proc/sys/net", false, false);
  ensure_dir("/sys");
  if (!rootless) do_mount("sysfs", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_RDONLY);
  do_mount("cgroup2", "/sys/fs/cgroup", "cgroup2", MS_NOSUID | MS_NODEV | MS_NOEXEC);
}

void pivot_into(const std::string& root) {
  if (::chdir(root.c_str()) < 0) throw_sys("cannot change to " + root);
  if (::syscall(SYS_pivot_root, ".", ".") < 0) throw_sys("cannot pivot into " + root);
  if (::umount2(".", MNT_DETACH) < 0) throw_sys("cannot detach the old root");
  if (::chdir("/") < 0) throw_sys("chdir /");
}

// In the child, PID 1 of the new pid namespace, right before the exec of /init.
// It was born in the pod's cgroup2 cgroup (see launch()); on a host without
// cgroup2 it moves itself into the pod's v1 cgroup.
void set_up_pod(const RunContext& o, unsigned long flags, bool born_in_cgroup, const std::vector<V1Cgroup>& v1) {
  if (o.runtime.private_users.count) become_userns_root();
  if (!born_in_cgroup && !o.runtime.rootless) join_pod_cgroups(o.uuid);  // a rootless pod has no cgroup of its own
  join_v1_cgroups(v1);  // resource limits on a v1 or hybrid host: before the cgroup namespace
  if (::unshare(CLONE_NEWCGROUP) < 0) throw_sys("cannot create the pod's cgroup namespace");
  const std::string root = o.runtime.private_users.count ? "." : o.pod_path + "/" + poddir::kStage1Rootfs;
  assemble_root(o, root, v1);
  if (flags & CLONE_NEWNET) loopback_up();
  // Before /sys: sysfs shows the netns of its mounter. A child in a user namespace of its own was born in it.
  if (!o.runtime.networks.empty() && !o.runtime.private_users.count) join_pod_netns(o.pod_path);
  const std::string host = "pod-" + o.uuid;  // the init sets runtime.hostname when given; nspawn's default
  if (::sethostname(host.c_str(), host.size()) < 0) throw_sys("cannot set the hostname");
  pivot_into(root);
  mount_api_filesystems((flags & CLONE_NEWNET) || !o.runtime.networks.empty(), in_userns(o));
  // The init gets the lock (so the pod stays "running" for as long as it
  // lives, even if this process is killed) and stdio, nothing else.
  if (::syscall(SYS_close_range, 3u, ~0u, CLOSE_RANGE_CLOEXEC) < 0) throw_sys("close_range");
  if (::fcntl(o.lock_fd, F_SETFD, 0) < 0) throw_sys("cannot pass the pod lock to the init");
}

Child launch(const RunContext& o) {
  const unsigned long flags = namespaces(o);
  // Where the pod's cgroups go (beneath a service unit's own, cgroupplaces.hpp), recorded before any
  // of them exists. A rootless pod has none of its own.
  if (!o.runtime.rootless) place_pod_cgroups(o.uuid);
  ChildOptions c;
  std::vector<std::string> env = {"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                                  "container=pod", "POD_INIT_LOCK_FD=" + std::to_string(o.lock_fd)};
  if (const char* term = ::getenv("TERM")) env.push_back(std::string("TERM=") + term);
  for (auto& e : init_environment(o)) env.push_back(std::move(e));
  auto v1 = pod_v1_cgroups(o.manifest, o.uuid);
  if (!v1.empty()) env.push_back(std::string("POD_INIT_CGROUP_V1=") + kV1InRoot);
  c.env = std::move(env);
  c.path = "/init";  // after pivot_root
  if (!o.interactive) c.in = Redirect::null();
  c.clone_flags = flags;
  // As with nspawn: a failure of ours leaves the init running under the pod
  // lock rather than killing the pod.
  c.on_destroy = ChildOptions::OnDestroy::kDetach;
  // Born in the pod's cgroup: no migration, so no wait for the cgroup
  // locks' RCU grace period (~15 ms here per first move into a cgroup). On a
  // hybrid host only the cgroup2 tree is joined: in the v1 name=systemd tree
  // the pod stays where this process is (in a service unit, its supervisor
  // cgroup, so systemd still sees the whole pod in the unit).
  UniqueFd cgroup = o.runtime.rootless ? UniqueFd() : make_pod_cgroup2(o.uuid);
  c.cgroup_fd = cgroup.get();
  const bool born_in_cgroup = static_cast<bool>(cgroup);
  c.pre_exec = [&o, flags, born_in_cgroup, v1] { set_up_pod(o, flags, born_in_cgroup, v1); };
  std::vector<std::string> argv = {"/init"};
  if (o.debug) argv.emplace_back("--debug");
  if (o.runtime.net == contract::kNetPasta) return start_after_pasta(argv, c, o);
  if (!o.runtime.private_users.count) return Child::start(argv, c);
  const std::string root = o.pod_path + "/" + poddir::kStage1Rootfs;
  UniqueFd idmap = prepare_private_users(o, cgroup.get(), v1, c);
  bind_host_paths(o, root, v1, o.runtime.private_users.idmaps_pod_dir() ? idmap.get() : -1);
  std::optional<NetnsForClone> netns;
  if (!o.runtime.networks.empty()) netns.emplace(o.pod_path);
  CwdForClone cwd(root);
  return Child::start(argv, c);
}

}  // namespace

int main(int argc, char** argv) { return run_entrypoint(argc, argv, "the pod init", launch); }
