// stage1 nspawn flavour: the run entrypoint (Documentation/stage1-abi.md).
//
//   run [--debug] [--interactive] <uuid>     cwd = $P, env POD_LOCK_FD=<locked $P>
//
// Forks systemd-nspawn (tuned: Documentation/stage1-nspawn.md) with the pod
// init as the container's PID 1; the rest (pid file, readiness, signals, the
// exit record) is supervise.cpp's, shared with the native flavour.
#include <linux/magic.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <iostream>

#include "cgroupplaces.hpp"
#include "common.hpp"
#include "resources.hpp"
#include "contract/poddir.hpp"
#include "net/cni/podnet.hpp"
#include "supervise.hpp"
#include "systemd/sd.hpp"
#include "util/error.hpp"
#include "util/idmap.hpp"
#include "util/fs.hpp"
#include "util/process.hpp"

using namespace pod;
using namespace pod::stage1;

extern char** environ;

namespace {

bool any_tty() { return ::isatty(STDIN_FILENO) || ::isatty(STDOUT_FILENO) || ::isatty(STDERR_FILENO); }

std::string find_nspawn() {
  if (const char* p = ::getenv("POD_NSPAWN")) return p;  // tests and odd installs
  for (const char* p : {"/usr/bin/systemd-nspawn", "/bin/systemd-nspawn", "/usr/local/bin/systemd-nspawn"})
    if (::access(p, X_OK) == 0) return p;
  throw Error("systemd-nspawn not found (install systemd-container)");
}

// The systemd-nspawn command line; see Documentation/stage1-nspawn.md for why
// each option is there.
std::vector<std::string> nspawn_argv(const RunContext& o, const std::vector<V1Cgroup>& v1_cgroups) {
  std::vector<std::string> a = {find_nspawn()};
  if (!o.debug) a.push_back("-q");
  if (sd::booted()) {
    a.push_back("--register=yes");
    // In a service (pod@.service, Delegate=yes) the pod stays in the unit's cgroup and machined registers the
    // unit; elsewhere (a shell in a session scope) nspawn makes a machine scope of its own, so that stopping the
    // machine never stops the caller's session (Documentation/systemd.md).
    if (!sd::own_service_unit().empty()) a.push_back("--keep-unit");
  } else {
    a.push_back("--register=no");
    a.push_back("--keep-unit");
  }
  // Never hand the host tty to the pod (passive). Not interactive, that is
  // for a stdout that is a terminal: otherwise the init's stdout and stderr
  // are ours as they are, for its copy of the apps' stdout and stderr
  // (passive would merge both into stdout through its pty).
  const bool passive = o.interactive ? any_tty() : ::isatty(STDOUT_FILENO);
  if (o.interactive && ::isatty(STDIN_FILENO)) a.push_back("--console=interactive");
  else a.push_back(passive ? "--console=passive" : "--console=pipe");
  for (const char* f : {"--resolv-conf=off", "--timezone=off", "--link-journal=no", "--settings=no"}) a.push_back(f);
  a.push_back("--machine=pod-" + o.uuid);
  a.push_back("--directory=" + o.pod_path + "/stage1/rootfs");
  if (const auto& pu = o.runtime.private_users; pu.count) {
    // --private-users: stage0 mounted the trees idmapped already, or chowned the pod's copies of them
    // (Documentation/isolation.md).
    a.push_back("--private-users=" + std::to_string(pu.base) + ":" + std::to_string(pu.count));
    a.push_back("--private-users-ownership=off");
  }
  // An idmapped pod dir is mounted by us at <root>/pod (main() below), as nspawn's :idmap binds set the idmap
  // on an attached mount, which Linux refuses (EBUSY) since 5.19. Otherwise (chowned by stage0, or no user
  // namespace) it is bound as is.
  if (!o.runtime.private_users.idmaps_pod_dir()) a.push_back("--bind=" + o.pod_path + ":" + poddir::kPodInRoot);
  // Host volumes appear at /host-volumes/<name>, where the pod init binds
  // them into the apps; recursive=false binds without submounts.
  for (const auto& v : o.manifest.volumes) {
    if (v.kind != contract::VolumeKind::Host) continue;
    struct stat st;
    if (::stat(v.source.c_str(), &st) < 0) throw_sys("volume " + v.name + ": source " + v.source);
    if (v.source.find(':') != std::string::npos)
      throw Error("volume " + v.name + ": source paths with ':' are not supported by systemd-nspawn");
    a.push_back((v.read_only ? "--bind-ro=" : "--bind=") + v.source + ":" + poddir::kHostVolumesInRoot + "/" + v.name +
                (v.recursive ? ":rbind" : ":norbind"));
  }
  // A --private-users pod's nspawn is started in the pod's network namespace (start_nspawn): nspawn would
  // join it from inside the new user namespace, which the kernel refuses for a namespace of the host's.
  if (!o.runtime.networks.empty()) {
    if (!o.runtime.private_users.count) a.push_back("--network-namespace-path=" + o.pod_path + "/" + cni::kNetns);
  } else if (o.runtime.net == "none") a.push_back("--private-network");
  else if (o.runtime.net != "host") throw Error("runtime.json: net " + o.runtime.net + " names no networks");
  for (const auto& e : init_environment(o)) a.push_back("--setenv=" + e);
  // The pod's v1 resource cgroups, where the init makes the apps' (resources.hpp).
  for (const auto& cg : v1_cgroups) a.push_back("--bind=" + cg.dir + ":" + kV1InRoot + "/" + cg.controller);
  if (!v1_cgroups.empty()) a.push_back(std::string("--setenv=POD_INIT_CGROUP_V1=") + kV1InRoot);
  a.push_back("--");
  a.push_back("/init");
  if (o.debug) a.push_back("--debug");
  return a;
}

std::vector<std::string> nspawn_env() {
  std::vector<std::string> env;
  for (char** e = environ; *e; ++e) {
    std::string s = *e;
    // The lock stays with us; NOTIFY_SOCKET is ours to answer, not nspawn's.
    if (s.rfind("POD_LOCK_FD=", 0) == 0 || s.rfind("NOTIFY_SOCKET=", 0) == 0 || s.rfind("SYSTEMD_", 0) == 0) continue;
    env.push_back(s);
  }
  // Seccomp is installed by the pod init from a precompiled filter (never run
  // SYSTEMD_SECCOMP=0 without it); cgroup2 only; no image lock (own rootfs).
  for (const char* e : {"SYSTEMD_SECCOMP=0", "SYSTEMD_NSPAWN_UNIFIED_HIERARCHY=1", "SYSTEMD_NSPAWN_LOCK=0"})
    env.emplace_back(e);
  return env;
}

// nspawn keeps a propagation dir under /run/systemd/nspawn and, when /run is
// not a tmpfs (as on these hosts), complains at every exit ("Attempted to
// remove disk file system …"). In the pod's own mount namespace (made by
// stage0; never in the host's) give that dir a small tmpfs of its own.
void private_nspawn_run_dir() {
  const char* priv = std::getenv("POD_PRIVATE_MOUNT_NS");
  if (!priv || std::string(priv) != "1") return;
  const char* dir = "/run/systemd/nspawn";
  ::mkdir("/run/systemd", 0755);
  ::mkdir(dir, 0755);
  struct statfs sf;
  if (::statfs(dir, &sf) == 0 && sf.f_type == TMPFS_MAGIC) return;
  if (::mount("tmpfs", dir, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=0755,size=1m") < 0)
    std::cerr << "run: warning: cannot mount a tmpfs on " << dir << ": " << std::strerror(errno) << "\n";
}

// systemd-nspawn as our child: it joins the pod's cgroups first. A failure
// there or of the exec comes back as an Error from Child::start, which main()
// records in `failure`.
Child start_nspawn(const RunContext& o, const std::vector<V1Cgroup>& v1_cgroups, const std::vector<std::string>& argv,
                   std::vector<std::string> env) {
  // The pod's own cgroups (cgroupplaces.hpp, recorded before they exist), which nspawn then puts its
  // payload and supervisor cgroups beneath: always without systemd, and inside a service unit (beneath
  // the unit's cgroup, this process moved to <unit>/supervisor, as the native flavour does). Only a pod
  // started from a login session on a systemd host is machined's, in the machine scope nspawn registers.
  const bool own_cgroups = !sd::booted() || !sd::own_service_unit().empty();
  if (own_cgroups) place_pod_cgroups(o.uuid);
  ChildOptions c;
  c.env = std::move(env);
  if (!o.interactive) c.in = Redirect::null();  // stdin is the pod's only in interactive mode
  // nspawn holds the pod lock too (it keeps inherited fds for itself, not for
  // the payload): if this supervisor is killed -9, the pod stays "running"
  // for as long as nspawn and so the apps live, instead of looking exited.
  // For the same reason a failure of ours leaves nspawn running (detach)
  // rather than SIGKILLing it under the pod.
  c.keep_fds = {o.lock_fd};
  c.on_destroy = ChildOptions::OnDestroy::kDetach;
  c.pre_exec = [&] {
    if (own_cgroups) join_pod_cgroups(o.uuid);
    join_v1_cgroups(v1_cgroups);
    if (o.runtime.private_users.count) {
      make_delegated_v1_cgroups(v1_cgroups, o.runtime.private_users.base);
      if (!o.runtime.networks.empty()) join_pod_netns(o.pod_path);
    }
    private_nspawn_run_dir();
    if (o.debug) {
      std::string line;
      for (const auto& a : argv) line += " " + a;
      std::cerr << "run: exec" << line << "\n";
    }
  };
  return Child::start(argv, c);
}

}  // namespace

int main(int argc, char** argv) {
  return run_entrypoint(argc, argv, "systemd-nspawn", [](const RunContext& o) {
    const auto v1_cgroups = pod_v1_cgroups(o.manifest, o.uuid);
    const auto argv_s = nspawn_argv(o, v1_cgroups);  // checks volume sources: fail here, with a clear failure
    if (const auto& pu = o.runtime.private_users; pu.idmaps_pod_dir())  // in stage0's mount namespace: ours only
      idmapped_bind(o.pod_path, o.pod_path + "/" + poddir::kStage1Rootfs + poddir::kPodInRoot,
                    make_user_namespace({pu.base, pu.count}).get(), false);
    return start_nspawn(o, v1_cgroups, argv_s, nspawn_env());
  });
}
