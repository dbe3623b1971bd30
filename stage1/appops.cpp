// The app-ops entrypoint — apps in a running pod (Documentation/stage1-abi.md,
// "app-ops") — for every flavour: nspawn and native (app-ops.cpp, the pod init
// a host process) and kvm (its host side, the init in the guest).
//
//   app-ops add    [--debug] --app=NAME [--cri-log=PATH] <uuid>       make the app's tree visible, tell the init
//   app-ops start  [--debug] --app=NAME <uuid>                        the init starts it
//   app-ops stop   [--debug] --app=NAME [--force] [--timeout=S] <uuid> the init signals it
//   app-ops remove [--debug] --app=NAME <uuid>                        the init unmounts and forgets it
//   app-ops list   [--debug] <uuid>                                   the init's view of every app
//   app-ops reopen-log [--debug] --app=NAME --cri-log=PATH <uuid>     the app's CRI log file from now on
//   app-ops update [--debug] --app=NAME --isolators=JSON <uuid>       the app's limits (its whole isolator set) from now on
//
// --cri-log: a host path, opened here (created, with its missing parent
// dirs, for appending) and handed to the init with the request (SCM_RIGHTS):
// the init writes the app's output there in the CRI log format (init/crilog.hpp).
//
// cwd = $P, the pod running, stage0 holding the pod's apps lock. Each prints
// the init's JSON reply on stdout. In overlay mode `add` mounts the app's
// overlay (its lower dirs from apps/NAME/tree, upper and work dirs under
// overlay/app-NAME) as a detached mount on the host and moves it into the
// target's mount namespace at STAGE1ROOT/opt/stage2/NAME/rootfs (fsmount +
// setns + move_mount): the pod init's own namespace (stage1 root "/"), or for
// kvm the run entrypoint's, where virtiofsd serves $P/stage1/rootfs to the
// guest. In copy mode stage0 copied the tree under stage1/rootfs, which the pod
// sees already. The kind=host volumes the app brought (AppSpec::volumes, app
// annotation pod/volumes) are cloned on the host and moved to
// STAGE1ROOT/host-volumes/<name> the same way; `remove` unmounts those that go
// with the app (mount_host_volumes below). Only a stage1 that declares
// pod/stage1/app-volumes is given such apps (stage0 checks).
#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <iostream>

#include "appops.hpp"
#include "common.hpp"
#include "contract/apporder.hpp"
#include "contract/manifest.hpp"
#include "contract/poddir.hpp"
#include "init/control.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"
#include "util/split.hpp"

namespace pod::stage1 {

using nlohmann::json;

namespace {

std::string trimmed(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

// The app's overlay as a detached mount (an fd), built from host paths.
UniqueFd app_overlay(const std::string& app) {
  // One "lowerdir+" per layer, top first: fsconfig takes at most 256 bytes per value (Linux >= 6.8).
  std::vector<std::pair<std::string, std::string>> opts;
  for (const auto& l : split(read_file_at(AT_FDCWD, poddir::app_tree(app), 64 << 10), '\n'))
    if (!l.empty()) opts.emplace_back("lowerdir+", l);
  if (opts.empty()) throw Error("pod file " + poddir::app_tree(app) + " names no image tree");
  char cwd[4096];
  if (!::getcwd(cwd, sizeof cwd)) throw_sys("getcwd");
  const std::string dir = std::string(cwd) + "/" + poddir::kOverlayDir + "/app-" + app;
  UniqueFd fs(::fsopen("overlay", FSOPEN_CLOEXEC));
  if (!fs) throw_sys("fsopen overlay");
  opts.emplace_back("upperdir", dir + "/upper");
  opts.emplace_back("workdir", dir + "/work");
  for (const auto& [k, v] : opts)
    if (::fsconfig(fs.get(), FSCONFIG_SET_STRING, k.c_str(), v.c_str(), 0) < 0)
      throw_sys("overlay of app " + app + ": " + k + "=" + v);
  if (::fsconfig(fs.get(), FSCONFIG_CMD_CREATE, nullptr, nullptr, 0) < 0) throw_sys("cannot create the overlay of app " + app);
  UniqueFd mnt(::fsmount(fs.get(), FSMOUNT_CLOEXEC, 0));
  if (!mnt) throw_sys("fsmount of app " + app);
  return mnt;
}

bool is_mount_point(const std::string& path) {
  struct statx st {};
  return ::statx(AT_FDCWD, path.c_str(), AT_NO_AUTOMOUNT, STATX_BASIC_STATS, &st) == 0 &&
         (st.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT) && (st.stx_attributes & STATX_ATTR_MOUNT_ROOT);
}

// The app's rootfs, or /opt/stage2, in the target's mount namespace, from there.
std::string in_stage1_root(const AppOpsTarget& t, const std::string& rel) {
  return t.stage1_root + (t.stage1_root.back() == '/' ? "" : "/") + rel;
}

// Is the app's rootfs a mount point in the target's namespace (seen through /proc/<pid>/root)?
bool mounted_in_pod(const AppOpsTarget& t, const std::string& app) {
  return is_mount_point("/proc/" + std::to_string(t.ns_pid()) + "/root" + in_stage1_root(t, poddir::app_rootfs(app)));
}

// Runs `body` in a child that joined the target's mount namespace; `body`
// returns false with errno set and `step` naming what failed, or true.
void in_target_ns(const AppOpsTarget& t, const std::string& what, const std::function<bool(const char*&)>& body) {
  const pid_t pid = t.ns_pid();
  UniqueFd ns(::open(("/proc/" + std::to_string(pid) + "/ns/mnt").c_str(), O_RDONLY | O_CLOEXEC));
  if (!ns) throw_sys("cannot open the pod's mount namespace (pid " + std::to_string(pid) + ")");
  const pid_t child = ::fork();
  if (child < 0) throw_sys("fork");
  if (child == 0) {
    const char* step = "setns";
    bool ok = ::setns(ns.get(), CLONE_NEWNS) == 0;
    if (ok) {
      try {
        ok = body(step);
      } catch (const Error& e) {
        std::cerr << "app-ops: " << e.what() << "\n";
        ::_exit(1);
      }
    }
    if (!ok) std::cerr << "app-ops: " << step << " for " << what << ": " << std::strerror(errno) << "\n";
    ::_exit(ok ? 0 : 1);
  }
  int st = 0;
  while (::waitpid(child, &st, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) throw Error("cannot " + what + " in the pod");
}

// In the target's namespace: `dir` (relative to the stage1 root, created when
// missing) a private mount of its own, so that what is mounted below it is not
// copied to peers of the stage1 root (nspawn's is shared inside the pod).
// Recursive: what is mounted below it already (the pod's boot volumes) stays.
bool make_private(const AppOpsTarget& t, const std::string& dir, const char*& step) {
  mkdirs_at(open_dir(t.stage1_root).get(), dir, 0755);
  const std::string path = in_stage1_root(t, dir);
  if (is_mount_point(path)) return true;
  step = "making a private mount";
  return ::mount(path.c_str(), path.c_str(), nullptr, MS_BIND | MS_REC, nullptr) == 0 &&
         ::mount(nullptr, path.c_str(), nullptr, MS_PRIVATE, nullptr) == 0;
}

// Move the detached mount `mnt` to `rel` (below `private_dir`, both relative
// to the stage1 root), creating the mount point: a directory, or an empty
// file for a file mount.
void move_into_pod(const AppOpsTarget& t, int mnt, const std::string& private_dir, const std::string& rel, bool is_dir,
                   const std::string& what) {
  in_target_ns(t, "mount " + what, [&](const char*& step) {
    if (!make_private(t, private_dir, step)) return false;
    UniqueFd root = open_dir(t.stage1_root);
    if (is_dir) {
      mkdirs_at(root.get(), rel, 0755);
    } else {
      UniqueFd parent = mkdirs_at(root.get(), rel.substr(0, rel.rfind('/')), 0755);
      UniqueFd f(::openat(parent.get(), rel.substr(rel.rfind('/') + 1).c_str(),
                          O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644));
      step = "creating the mount point";
      if (!f) return false;
    }
    step = "move_mount";
    const std::string target = in_stage1_root(t, rel);
    return ::move_mount(mnt, "", AT_FDCWD, target.c_str(), MOVE_MOUNT_F_EMPTY_PATH) == 0;
  });
}

contract::PodManifest pod_manifest() {
  return contract::parse_pod_manifest(read_file_at(AT_FDCWD, poddir::kManifest, 16 << 20));
}

// host-volumes/<name>, relative to the stage1 root.
std::string host_volume_rel(const std::string& name) { return std::string(poddir::kHostVolumesInRoot).substr(1) + "/" + name; }

// The kind=host volumes app `app` brought (its pod/volumes) not mounted in the
// pod yet, each cloned on the host (open_tree, with its submounts unless
// recursive=false; read-only all the way down when readOnly) and moved to
// host-volumes/<name>, where the init binds them into the app as it does the
// pod's own. A kill -9 anywhere leaves nothing on the host: the clone is
// detached until moved, and what is in the pod goes with its namespace.
void mount_host_volumes(const AppOpsTarget& t, const std::string& app) {
  const contract::PodManifest m = pod_manifest();
  const contract::RuntimeApp* ra = m.app(app);
  if (!ra) throw Error("the pod manifest has no app named \"" + app + "\"");
  const std::string pod_root = "/proc/" + std::to_string(t.ns_pid()) + "/root";
  for (const auto& name : contract::app_brought_volumes(*ra)) {
    const contract::Volume* v = contract::find_named(m.volumes, name);
    if (!v || v->kind != contract::VolumeKind::Host) continue;
    const std::string rel = host_volume_rel(v->name);
    if (is_mount_point(pod_root + in_stage1_root(t, rel))) continue;
    const unsigned rec = v->recursive ? AT_RECURSIVE : 0;
    UniqueFd tree(::open_tree(AT_FDCWD, v->source.c_str(), OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | rec));
    if (!tree) throw_sys("volume " + v->name + ": cannot clone " + v->source);
    if (v->read_only) {
      struct mount_attr attr {};
      attr.attr_set = MOUNT_ATTR_RDONLY;
      if (::mount_setattr(tree.get(), "", AT_EMPTY_PATH | rec, &attr, sizeof attr) < 0)
        throw_sys("volume " + v->name + ": cannot make the clone of " + v->source + " read-only");
    }
    move_into_pod(t, tree.get(), std::string(poddir::kHostVolumesInRoot).substr(1), rel,
                  S_ISDIR(stat_fd(tree.get()).st_mode), "volume " + v->name);
  }
}

// The host volumes that go with app `app` (contract::app_own_volumes) unmounted in the pod (idempotent).
void unmount_host_volumes(const AppOpsTarget& t, const std::string& app) {
  const contract::PodManifest m = pod_manifest();
  std::vector<std::string> targets;
  for (const auto& name : contract::app_own_volumes(m, app))
    if (const contract::Volume* v = contract::find_named(m.volumes, name); v && v->kind == contract::VolumeKind::Host)
      targets.push_back(in_stage1_root(t, host_volume_rel(name)));
  if (targets.empty()) return;
  in_target_ns(t, "unmount the volumes of app " + app, [&](const char*& step) {
    step = "umount2";
    for (const auto& target : targets)
      if (::umount2(target.c_str(), MNT_DETACH) < 0 && errno != EINVAL && errno != ENOENT) return false;
    return true;
  });
}

// kvm: the app's overlay lives in the host-side namespace; once the init in
// the guest forgot the app, it goes (lazily: virtiofsd may still hold inodes).
void detach_from_pod(const AppOpsTarget& t, const std::string& app) {
  if (!mounted_in_pod(t, app)) return;
  in_target_ns(t, "unmount the tree of app " + app, [&](const char*& step) {
    step = "umount2";
    return ::umount2(in_stage1_root(t, poddir::app_rootfs(app)).c_str(), MNT_DETACH) == 0 || errno == EINVAL;
  });
}

// The CRI log file at `path` (absolute, on the host) open for appending.
UniqueFd open_cri_log(const std::string& path) {
  if (path.empty() || path[0] != '/') throw usage_error("--cri-log: " + path + " is not an absolute path");
  const size_t slash = path.rfind('/');
  std::error_code ec;
  if (slash > 0) std::filesystem::create_directories(path.substr(0, slash), ec);
  if (ec) throw Error("cannot create the directory of the CRI log file " + path + ": " + ec.message());
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0640));
  if (!fd) throw_sys("cannot open the CRI log file " + path);
  return fd;
}

}  // namespace

int app_ops(int argc, char** argv, const AppOpsTarget& t) {
  if (argc < 2) throw usage_error("usage: app-ops add|start|stop|remove|list [--debug] [--app=NAME] <uuid>");
  const std::string op = argv[1];
  Args a = parse_args(argc - 1, argv + 1, {"--debug", "--app", "--force", "--timeout", "--cri-log", "--isolators"});
  if (a.positional.size() != 1) throw usage_error("app-ops " + op + ": give the pod's UUID");
  if (op == "list") {
    std::cout << t.control({{"op", "apps"}}, -1).dump() << "\n";
    return 0;
  }
  const auto app = a.value("--app");
  if (!app || app->empty()) throw usage_error("app-ops " + op + ": --app=NAME is required");
  json req = {{"op", op}, {"app", *app}};
  UniqueFd log;
  if (auto p = a.value("--cri-log")) {
    if (!t.passes_fds)
      throw usage_error("app-ops: --cri-log: this flavour's pod init cannot be handed a host file (" + *p + ")");
    log = open_cri_log(*p);
  }
  if (op == "reopen-log" && !log) throw usage_error("app-ops reopen-log: --cri-log=PATH is required");
  const bool overlay = trimmed(read_file_at(AT_FDCWD, poddir::kRootfsMode, 64)) == "overlay";
  if (op == "add") {
    // Mounted once: a second overlay on the same upper and work dirs would
    // reset the work dir under the first one (and its copy-ups would fail).
    if (overlay && !mounted_in_pod(t, *app)) {
      UniqueFd mnt = app_overlay(*app);
      move_into_pod(t, mnt.get(), poddir::kStage2InRoot, poddir::app_rootfs(*app), true, "the tree of app " + *app);
    }
    mount_host_volumes(t, *app);
  } else if (op == "remove") {
    unmount_host_volumes(t, *app);
  } else if (op == "stop") {
    req["force"] = a.has("--force");
    if (auto v = a.value("--timeout")) req["timeout"] = std::stoi(*v);
  } else if (op == "update") {
    auto isos = json::parse(a.value("--isolators").value_or(""), nullptr, false);
    if (!isos.is_array()) throw usage_error("app-ops update: --isolators=JSON (an array of isolators) is required");
    req["isolators"] = isos;
  } else if (op != "start" && op != "reopen-log") {
    throw usage_error("app-ops: unknown operation " + op);
  }
  const json reply = t.control(req, log ? log.get() : -1);
  if (op == "remove" && overlay && t.detach_on_remove) detach_from_pod(t, *app);
  std::cout << reply.dump() << "\n";
  return 0;
}

}  // namespace pod::stage1
