// The pod's private mount namespace: overlay mounts exist only there, so they
// vanish with the pod's last process and never leak into the host or pin the
// store; gc has nothing to unmount after a clean exit or a kill -9.
#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <optional>

#include "contract/manifest.hpp"
#include "pods/info.hpp"
#include "run/hooks.hpp"
#include "run/prepare.hpp"
#include "util/crashpoint.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"
#include "util/idmap.hpp"
#include "util/split.hpp"
#include "util/uuid.hpp"

namespace pod::run {

namespace {
std::string line_of(const Pod& pod, const std::string& file) {
  std::string s = read_file_at(pod.fd(), file, 4096);
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

void check_overlay_path(const std::string& p) {
  if (p.find_first_of(",:\\") != std::string::npos)
    throw Error("path " + p + " contains ',', ':' or '\\', which overlayfs options cannot express; "
                "use a data dir without them or --no-overlay");
}

void mount_overlay(const std::string& lower, const std::string& upper, const std::string& work,
                   const std::string& target) {
  for (const auto* p : {&upper, &work}) check_overlay_path(*p);
  std::string opts = "lowerdir=" + lower + ",upperdir=" + upper + ",workdir=" + work;
  if (::mount("overlay", target.c_str(), "overlay", 0, opts.c_str()) < 0)
    throw_sys("cannot mount overlay on " + target);
}

// An app's lower dirs, one per line, top first -> overlayfs' "top:…:bottom".
std::string lower_of(const Pod& pod, const std::string& file) {
  std::string s = read_file_at(pod.fd(), file, 64 << 10), out;
  size_t i = 0;
  while (i < s.size()) {
    size_t j = s.find('\n', i);
    if (j == std::string::npos) j = s.size();
    if (j > i) {
      check_overlay_path(s.substr(i, j - i));
      out += (out.empty() ? "" : ":") + s.substr(i, j - i);
    }
    i = j + 1;
  }
  if (out.empty()) throw Error("pod file " + file + " names no image tree");
  return out;
}

// --private-users: the ids a tree's files show to the pod. Each lower dir is
// seen through an idmapped mount of its own at $P/overlay/<name>/idmap/<i>
// (in this namespace only), so the store keeps the host's ids on disk; the
// upper dir is not idmapped, so what the pod writes lands with its shifted
// ids, and its root gets the shifted owner of the top lower dir's root.
struct Shift {
  IdShift ids;
  UniqueFd ns;
};

std::string shifted_lowers(const Pod& pod, const std::string& name, const std::string& lowers, const Shift& sh) {
  const std::string p = pod.path();
  std::string out;
  int i = 0;
  for (const auto& dir : split(lowers, ':')) {
    const std::string rel = "overlay/" + name + "/idmap/" + std::to_string(i++);
    mkdirs_at(pod.fd(), rel, 0700);
    idmapped_bind(dir, p + "/" + rel, sh.ns.get(), false);
    out += (out.empty() ? "" : ":") + p + "/" + rel;
  }
  return out;
}

// Give `rel` below `root` (and each dir on the way) the pod's root as owner
// unless it has a shifted owner already: what stage0 makes in a pod's tree.
void shift_owner(int root, const std::string& rel, const Shift& sh) {
  std::string path;
  for (const auto& part : split(rel, '/')) {
    if (part.empty()) continue;
    path += (path.empty() ? "" : "/") + part;
    struct stat st = stat_fd(open_dir_at(root, path).get());
    if (st.st_uid >= sh.ids.base && st.st_uid - sh.ids.base < sh.ids.count) continue;
    if (::fchownat(root, path.c_str(), sh.ids.base, sh.ids.base, AT_SYMLINK_NOFOLLOW) < 0)
      throw_sys("cannot give " + path + " the pod's root as owner");
  }
}

void mount_shifted_overlay(const Pod& pod, const std::string& name, const std::string& lowers,
                           const std::string& target, const Shift* sh) {
  const std::string p = pod.path(), upper = p + "/overlay/" + name + "/upper";
  if (!sh) return mount_overlay(lowers, upper, p + "/overlay/" + name + "/work", target);
  struct stat top {};
  if (::stat(lowers.substr(0, lowers.find(':')).c_str(), &top) < 0) throw_sys("cannot stat " + lowers.substr(0, lowers.find(':')));
  struct stat up {};
  if (::stat(upper.c_str(), &up) < 0) throw_sys("cannot stat " + upper);
  if ((up.st_uid < sh->ids.base || up.st_uid - sh->ids.base >= sh->ids.count) &&
      ::chown(upper.c_str(), sh->ids.base + top.st_uid, sh->ids.base + top.st_gid) < 0)
    throw_sys("cannot give " + upper + " the pod's ids");
  mount_overlay(shifted_lowers(pod, name, lowers, *sh), upper, p + "/overlay/" + name + "/work", target);
}

void mount_pod_trees(const Pod& pod, const Shift* sh) {
  const std::string p = pod.path();
  const std::string s1root = p + "/" + poddir::kStage1Rootfs;
  check_overlay_path(line_of(pod, poddir::kStage1Tree));
  mount_shifted_overlay(pod, "stage1", line_of(pod, poddir::kStage1Tree) + "/rootfs", s1root, sh);
  UniqueFd root = open_dir(s1root);
  // The manifest's apps, not the apps/ dir: an app add killed before its commit leaves a staged one there.
  for (const auto& name : contract::parse_pod_manifest(read_file_at(pod.fd(), poddir::kManifest, 16 << 20)).app_names()) {
    const std::string rel = poddir::app_rootfs(name);
    mkdirs_at(root.get(), rel, 0755);
    if (sh) shift_owner(root.get(), rel, *sh);
    mount_shifted_overlay(pod, "app-" + name, lower_of(pod, poddir::app_tree(name)), s1root + "/" + rel, sh);
  }
}
}  // namespace

bool overlay_usable(const Store& store) {
  static int verdict = -1;
  if (verdict >= 0) return verdict == 1;
  const struct stat st = stat_fd(store.root_fd());
  UniqueFd cache = mkdirs_at(store.root_fd(), "cache", 0700);
  const std::string mark = "overlay-ok-" + std::to_string(st.st_dev);
  if (exists_at(cache.get(), mark)) return (verdict = 1) == 1;
  const std::string dir = store.path() + "/tmp/overlay-probe-" + new_uuid();
  UniqueFd d = mkdirs_at(store.root_fd(), "tmp/" + dir.substr(dir.rfind('/') + 1), 0700);
  for (const char* s : {"lower", "upper", "work", "merged"}) mkdirs_at(d.get(), s);
  bool ok = ::mount("overlay", (dir + "/merged").c_str(), "overlay", 0,
                    ("lowerdir=" + dir + "/lower,upperdir=" + dir + "/upper,workdir=" + dir + "/work").c_str()) == 0;
  if (ok) ::umount2((dir + "/merged").c_str(), MNT_DETACH);
  remove_tree_at(store.tmp_fd(), dir.substr(dir.rfind('/') + 1));
  if (ok) write_file_at(cache.get(), mark, "");
  verdict = ok ? 1 : 0;
  return ok;
}

void reset_run_records(const Pod& pod) {
  for (const char* dir : {poddir::kAppStatusDir, poddir::kAppTimesDir})
    if (UniqueFd d = try_open_dir_at(pod.fd(), dir))
      for (const auto& n : list_dir(d.get()))
        if (::unlinkat(d.get(), n.c_str(), 0) < 0 && errno != ENOENT) throw_sys(std::string("cannot remove ") + dir + "/" + n);
  for (const char* f : {poddir::kExitStatus, poddir::kFailure, poddir::kReady, poddir::kPid, poddir::kPaused})
    if (::unlinkat(pod.fd(), f, 0) < 0 && errno != ENOENT) throw_sys(std::string("cannot remove ") + f);
}

void run_pod(Pod& pod, const contract::Runtime* override_rt, bool restart) {
  const char* verb = restart ? "restart" : "run";
  if (!pod.try_lock_exclusive())
    throw Error(std::string("cannot ") + verb + " pod " + pod.uuid() + ": it is " + state_name(pod.state()), EBUSY,
                ErrorKind::Conflict);
  auto where = pod.locate();
  const bool fits = where && (restart ? *where == PodDir::Run : *where == PodDir::Prepared || *where == PodDir::Prepare);
  if (!fits)
    throw Error(std::string("cannot ") + verb + " pod " + pod.uuid() + ": it is " + state_name(pod.state()) +
                    (restart ? ", not exited" : ", not prepared"),
                EINVAL, ErrorKind::Conflict);
  const auto eps = stage1::pod_entrypoints(pod);
  run_prestart_and_watch(pod);  // on the host, before the pod's mount namespace; a failure leaves the pod as it was
  const std::string run_ep = stage1::entrypoint_path(pod, eps.run);
  if (::access(run_ep.c_str(), X_OK) < 0)
    throw_sys("stage1 run entrypoint " + run_ep + " is not executable (was its image removed?)");
  contract::Runtime rt = override_rt ? *override_rt : read_runtime(pod);
  // On a terminal the apps' output goes there (not to logs/<app>.log).
  const bool attach = !rt.interactive && ::isatty(STDOUT_FILENO);
  if (attach != rt.attach) {
    rt.attach = attach;
    override_rt = &rt;
  }

  // The host's mount namespace, for what must outlive the pod's (a CNI netns
  // mount): inherited by the run entrypoint as POD_HOST_MNTNS_FD.
  const int host_mntns = ::open("/proc/self/ns/mnt", O_RDONLY);
  if (host_mntns < 0) throw_sys("cannot open /proc/self/ns/mnt");
  if (::unshare(CLONE_NEWNS) < 0) throw_sys("cannot create the pod's mount namespace (are you root?)");
  if (::mount(nullptr, "/", nullptr, MS_REC | MS_SLAVE, nullptr) < 0) throw_sys("cannot make / a slave mount");
  std::optional<Shift> shift;
  if (rt.private_users.count) {
    shift.emplace();
    shift->ids = {rt.private_users.base, rt.private_users.count};
    shift->ns = make_user_namespace(shift->ids);
  }
  // (A --no-overlay copy of a --private-users pod got the shifted owners at prepare.)
  if (line_of(pod, poddir::kRootfsMode) == "overlay") mount_pod_trees(pod, shift ? &*shift : nullptr);

  if (restart) {
    crashpoint("restart:locked");
    reset_run_records(pod);  // a kill -9 in here leaves an exited pod with fewer records: gc as ever
    crashpoint("restart:after-reset");
    pod.write_time(poddir::kStartedAt);
  } else {
    pod.to_run();
  }
  try {
    // This run's options, written once the pod is out of prepared/: a power
    // loss can then never leave a prepared pod with a torn runtime.json.
    if (override_rt)
      write_file_atomic_at(pod.fd(), poddir::kRuntime, contract::serialize(rt), 0644, Durability::kVolatile);
    int fd = pod.hand_lock_to_child();
    std::vector<std::string> args;
    if (rt.debug) args.push_back("--debug");
    if (rt.interactive) args.push_back("--interactive");
    args.push_back(pod.uuid());
    // run executes from the pod's own stage1 rootfs, mounted in this namespace.
    stage1::exec_path(pod, pod.path() + "/" + poddir::kStage1Rootfs + eps.run, args,
                      {"POD_LOCK_FD=" + std::to_string(fd), "POD_STAGE1_ABI=1", "POD_PRIVATE_MOUNT_NS=1",
                       "POD_HOST_MNTNS_FD=" + std::to_string(host_mntns)});
  } catch (const Error& e) {
    try {
      write_file_atomic_at(pod.fd(), poddir::kFailure, std::string(e.what()) + "\n");
    } catch (const Error&) {
      // the original error is the one to report
    }
    throw Error(e.what(), e.errnum(), ErrorKind::Stage1);
  }
}

}  // namespace pod::run
