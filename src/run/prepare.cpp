#include "run/hooks.hpp"
#include "run/prepare.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "appc/image_manifest.hpp"
#include "images/oci.hpp"
#include "images/store.hpp"
#include "isolators/policy.hpp"
#include "mds/mds.hpp"
#include "pods/info.hpp"
#include "pods/walk.hpp"
#include "rootless/policy.hpp"
#include "rootless/userns.hpp"
#include "run/imageref.hpp"
#include "stage1abi/flavors.hpp"
#include "run/network.hpp"
#include "run/podmanifest.hpp"
#include "run/privateusers.hpp"
#include "stage1abi/options.hpp"
#include "stage1abi/stage1.hpp"
#include "contract/apporder.hpp"
#include "util/crashpoint.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"
#include "util/idmap.hpp"
#include "util/process.hpp"

namespace pod::run {

namespace {

std::string stage1_image_id(images::ImageStore& is, const Stage1Spec& sel) {
  int given = !sel.path.empty() + !sel.name.empty() + !sel.hash.empty() + !sel.flavor.empty();
  if (given > 1) throw usage_error("give only one of --stage1-path, --stage1-name, --stage1-hash, --stage1-flavor");
  if (!sel.name.empty() || !sel.hash.empty()) return is.resolve(sel.name.empty() ? sel.hash : sel.name);
  std::string path = sel.path;
  if (path.empty()) {
    std::string flavor = sel.flavor;
    if (flavor.empty()) {
      if (const char* p = std::getenv("POD_STAGE1_PATH"); p && *p) path = p;
      else if (const char* f = std::getenv("POD_STAGE1_FLAVOR"); f && *f) flavor = f;
    }
    if (path.empty()) {
      const stage1::FlavorConfig cfg = stage1::load_flavor_config();
      if (flavor.empty()) flavor = cfg.default_flavor;
      if (flavor.empty()) throw usage_error("no default stage1 flavor is configured (stage1.json); give --stage1-flavor");
      path = stage1::flavor_image(cfg, flavor);
    }
  }
  // The stage1 is chosen by the operator, not pulled from the network.
  FetchOptions o;
  o.insecure_image = true;
  o.warn_unverified = false;
  return resolve_image(is, path, o);
}

// Pod files need no fsync of their own: `pod prepare` ends with a syncfs
// (Pod::to_prepared), and a pod that `pod run` loses to a power failure is
// garbage either way.
void put(int dirfd, const std::string& name, const std::string& content, mode_t mode = 0644) {
  write_file_at(dirfd, name, content, mode, Durability::kVolatile);
}

void mkdir_in(int dirfd, const std::string& rel, mode_t mode = 0755) { mkdirs_at(dirfd, rel, mode); }

void copy_tree(const std::string& from_rootfs, const std::string& to) {
  run_checked({"cp", "-a", "--reflink=auto", from_rootfs + "/.", to}, "copying " + from_rootfs);
}

void make_empty_volume(int podfd, const contract::Volume& v) {
  UniqueFd vd = mkdirs_at(podfd, poddir::empty_volume(v.name), 0755);
  if (::fchmod(vd.get(), v.mode) < 0) throw_sys("chmod volume " + v.name);
  if (::fchown(vd.get(), v.uid, v.gid) < 0) throw_sys("chown volume " + v.name);
}

// appc: an image whose app calls sd_notify itself says so with this annotation.
bool supports_notify(const nlohmann::json& image_manifest) {
  return appc::manifest_annotation(image_manifest, "appc.io/executor/supports-systemd-notify").value_or("") == "true";
}

// Which apps get a NOTIFY_SOCKET, and the readiness mode when not given
// (Documentation/systemd.md "Readiness").
void resolve_notify(contract::Runtime& rt, const std::vector<ResolvedApp>& apps, const contract::PodManifest& manifest) {
  rt.notify_apps.clear();
  for (size_t i = 0; i < apps.size(); ++i)
    if (supports_notify(apps[i].image_manifest)) rt.notify_apps.push_back(manifest.apps[i].name);
  if (rt.notify_ready.empty()) rt.notify_ready = rt.notify_apps.empty() ? "started" : "app";
}

// --after NAME:ready waits for NAME's READY=1: NAME must get a notify socket
// (notify plan), and the stage1 must say that its init waits for it.
void check_ready_deps(const contract::Runtime& rt, const contract::PodManifest& manifest, const nlohmann::json& s1_manifest) {
  const contract::NotifyPlan plan = contract::notify_plan(rt, manifest);
  const bool supported = appc::manifest_annotation(s1_manifest, stage1::kAnnAppReady).value_or("") == "true";
  for (const auto& a : manifest.apps)
    for (const auto& dep : contract::app_after_ready(a)) {
      if (!supported)
        throw usage_error("app " + a.name + ": --after " + dep + ":ready: the stage1 " + s1_manifest.value("name", "?") +
                          " does not declare " + stage1::kAnnAppReady + " (its init cannot wait for an app's READY=1)");
      if (std::find(plan.apps.begin(), plan.apps.end(), dep) == plan.apps.end())
        throw usage_error("app " + a.name + ": --after " + dep + ":ready: app " + dep +
                          " gets no NOTIFY_SOCKET, so it never sends READY=1 (give --notify-ready=app, or use an "
                          "image with appc.io/executor/supports-systemd-notify)");
    }
}

using Stack = std::vector<images::ImageStore::Tree>;

// The rootfs dirs of a stack, top first.
std::string lower_dirs(const Stack& st, const char* sep) {
  std::string s;
  for (const auto& t : st) s += (s.empty() ? "" : sep) + t.path + "/rootfs";
  return s;
}

std::string image_label(const ResolvedApp& a) { return a.image_manifest.value("name", a.spec.image); }

// overlayfs takes its options in one page: lowerdir=…,upperdir=…,workdir=… (podns.cpp) must fit.
bool fits_one_overlay(const Store& store, const Stack& st, const std::string& app) {
  const size_t pod_dir = store.path().size() + std::string("/pods/run/").size() + 36;
  const size_t upper = pod_dir + std::string("/overlay/app-").size() + app.size() + std::string("/upper").size();
  const size_t opts = std::string("lowerdir=").size() + lower_dirs(st, ":").size() +
                      std::string(",upperdir=,workdir=").size() + 2 * upper;
  return opts < 4000;
}

}  // namespace

// docker and podman create an OCI image's WorkingDir when no layer has it: the rootfs-relative path
// to create, or "".
std::string oci_missing_workdir(const ResolvedApp& a, const std::vector<images::ImageStore::Tree>& st, const std::string& wd) {
  if (wd.empty() || wd == "/" || !appc::manifest_annotation(a.image_manifest, images::oci::kEntrypointAnnotation))
    return "";
  const std::string rel = wd.substr(1);
  for (const auto& t : st) {
    UniqueFd root = open_dir(t.path + "/rootfs");
    if (stat_at(root.get(), rel)) return "";
  }
  return rel;
}


Pod prepare_pod(const Store& store, images::ImageStore& is, PodSpec& spec, const Progress& debug,
                const Progress& notice) {
  // Resolve (and fetch) everything before the pod exists: bad input leaves nothing behind.
  const std::string s1_id = stage1_image_id(is, spec.stage1);
  const nlohmann::json s1_manifest = is.manifest(s1_id);
  const stage1::Entrypoints s1_eps = stage1::parse_entrypoints(s1_manifest);  // refuse a non-stage1 early
  if (spec.sandbox && s1_eps.app_ops.empty())
    throw Error("stage1 " + s1_manifest.value("name", s1_id) + " cannot run a sandbox: it does not support apps in a "
                "running pod (its image declares no " + stage1::kAnnAppOps + " entrypoint)", ENOTSUP);
  stage1::check_options(stage1::declared_options(s1_manifest), spec.stage1.options,
                        s1_manifest.value("name", s1_id));
  if (!spec.mds_register.empty()) mds::check_reachable(spec.mds_register);  // before any work
  std::vector<ResolvedApp> apps;
  contract::PodManifest manifest;
  if (!spec.pod_manifest.empty()) {
    GivenPod given = load_pod_manifest(spec, is);
    apps = std::move(given.apps);
    manifest = std::move(given.manifest);
  } else {
    for (const auto& a : spec.apps) {
      ResolvedApp r{a, resolve_image(is, a.image, spec.fetch), {}};
      r.image_manifest = is.manifest(r.image_id);
      apps.push_back(std::move(r));
    }
    manifest = build_pod_manifest(spec, apps);
  }
  const auto& insecure = spec.insecure_isolation;
  isolators::check_pod(manifest, isolators::stage1_enforces(s1_manifest), s1_manifest.value("name", s1_id),
                       std::find(insecure.begin(), insecure.end(), "isolators") != insecure.end(), notice,
                       spec.strict_isolators);
  for (const auto& o : insecure)
    if (o != "isolators")
      notice("warning: --insecure-options=" + o + ": default protections off for every app of this pod (" +
             (o == "seccomp" ? "no default seccomp filter" : o == "paths" ? "/proc and /sys not masked" : "every capability kept") +
             ")");
  contract::Runtime rt = runtime_of(spec);
  rt.rootless = rootless::active();
  // A rootless pod's default network is pasta's user-mode one.
  const std::string net = spec.net.empty() && rootless::active() ? contract::kNetPasta : spec.net;
  const auto ports = port_mappings(spec, manifest);
  rootless::check_pod(manifest, net.empty() ? "default" : net, ports, s1_manifest, s1_manifest.value("name", s1_id));
  resolve_networks(rt, net, ports, store.path(), s1_manifest);
  if (!spec.mds_register.empty()) mds::check_pod_network(spec.mds_register, rt.net, !rt.networks.empty());
  resolve_notify(rt, apps, manifest);
  check_ready_deps(rt, manifest, s1_manifest);
  std::optional<PrivateUsersPlan> users;  // --private-users
  if (!spec.private_users.empty())
    users = check_private_users(spec.private_users, s1_manifest, s1_manifest.value("name", s1_id), {store.path(), is.path()});
  const bool chown_pod = users && !users->no_idmap.empty();
  const bool overlay = !spec.no_overlay && !chown_pod && overlay_usable(store);
  if (chown_pod)
    notice("warning: --private-users: " + users->no_idmap + " cannot be mounted idmapped (no idmapped mounts on its "
           "filesystem): the pod gets its own copies of its images and its pod dir, chowned to its ids");
  debug(std::string("rootfs mode: ") + (overlay ? "overlay" : "copy"));

  auto prep_lock = is.prepare_lock(false);
  auto s1_tree = is.render(s1_id);
  std::vector<Stack> app_trees;  // per app: its lower dirs, top first (one tree in copy mode)
  for (size_t i = 0; i < apps.size(); ++i) {
    Stack st = overlay ? is.render_stack(apps[i].image_id) : Stack{is.render(apps[i].image_id)};
    if (st.size() > 1 && !fits_one_overlay(store, st, manifest.apps[i].name)) {
      notice("image " + image_label(apps[i]) + " has " + std::to_string(st.size()) +
             " layers, more than one overlayfs mount can stack here; running it from one merged tree");
      st = {is.render(apps[i].image_id)};
    }
    app_trees.push_back(std::move(st));
  }

  Pod pod = Pod::create(store);
  DiscardUnlessReleased discard(pod);  // a failure below removes the pod (ENOSPC: Documentation/images.md)
  if (!spec.uuid_file_save.empty()) save_uuid_file(spec.uuid_file_save, pod.uuid());
  pod.to_preparing();
  {
    const int pfd = pod.fd();
    if (rt.hostname.empty()) rt.hostname = "pod-" + pod.uuid().substr(0, 8);
    if (!spec.mds_register.empty()) rt.metadata_url = mds::register_pod(pfd, pod.uuid(), spec.mds_register);
    UniqueFd trees = mkdirs_at(pfd, poddir::kTreesDir, 0755);
    put(trees.get(), s1_tree.id, "");
    for (const auto& st : app_trees)
      for (const auto& t : st) put(trees.get(), t.id, "");
    mkdir_in(pfd, poddir::kStage1Rootfs);
    put(pfd, poddir::kStage1Manifest, s1_manifest.dump(2) + "\n", 0644);
    put(pfd, poddir::kRootfsMode, overlay ? "overlay\n" : "copy\n");
    if (rootless::active()) put(pfd, poddir::kUserNamespace, rootless::describe_mapping() + "\n");
    if (users) {  // held until the pod is deleted; a pod that dies here is gc's, and with it the range
      const IdShift r = reserve_private_users(store, pod.uuid(), users->want);
      rt.private_users = {r.base, r.count, chown_pod};
      put(pfd, poddir::kUserNamespace, "0->" + std::to_string(r.base) + "+" + std::to_string(r.count) +
                                           (overlay ? " (idmapped)" : " (chown)") +
                                           (chown_pod ? "; pod dir chowned, " + users->no_idmap + " has no idmapped mounts\n" : "\n"));
    }
    if (overlay) {
      put(pfd, poddir::kStage1Tree, s1_tree.path + "\n");
      mkdir_in(pfd, "overlay/stage1/upper");
      mkdir_in(pfd, "overlay/stage1/work");
    } else {
      copy_tree(s1_tree.path + "/rootfs", pod.path() + "/" + poddir::kStage1Rootfs);
    }
    for (size_t i = 0; i < apps.size(); ++i) {
      const std::string& name = manifest.apps[i].name;
      mkdir_in(pfd, std::string(poddir::kAppsDir) + "/" + name);
      put(pfd, poddir::app_manifest(name), apps[i].image_manifest.dump(2) + "\n");
      put(pfd, poddir::app_tree(name), lower_dirs(app_trees[i], "\n") + "\n");
      const std::string workdir = oci_missing_workdir(apps[i], app_trees[i], manifest.apps[i].app.working_directory);
      if (overlay) {
        UniqueFd upper = mkdirs_at(pfd, "overlay/app-" + name + "/upper");
        mkdir_in(pfd, "overlay/app-" + name + "/work");
        if (!workdir.empty()) mkdir_in(upper.get(), workdir);
      } else {
        const std::string dst = poddir::app_rootfs_in_pod(name);
        UniqueFd root = mkdirs_at(pfd, dst);
        copy_tree(app_trees[i].front().path + "/rootfs", pod.path() + "/" + dst);
        if (!workdir.empty()) mkdir_in(root.get(), workdir);
      }
    }
    // A copy is the pod's own: it gets the pod's ids (overlay trees are mounted idmapped: run/podns.cpp).
    if (rt.private_users.count && !overlay && !chown_pod)
      shift_tree_owners(pod.path() + "/" + poddir::kStage1Rootfs, {rt.private_users.base, rt.private_users.count});
    for (const auto& v : manifest.volumes)
      if (v.kind == contract::VolumeKind::Empty) make_empty_volume(pfd, v);
    for (const char* d : {poddir::kAppsDir, poddir::kAppStatusDir, poddir::kLogsDir, poddir::kStateDir}) mkdir_in(pfd, d);
    put(pfd, poddir::kRuntime, contract::serialize(rt));
    if (std::string hooks = hooks_json(spec); !hooks.empty()) put(pfd, poddir::kHooks, hooks);
    put(pfd, poddir::kManifest, contract::serialize(manifest), 0640);
    // No idmapped /pod: the whole pod dir, the copies of the trees with it, is the pod's root's.
    if (chown_pod) shift_tree_owners(pod.path(), {rt.private_users.base, rt.private_users.count});
    crashpoint("prepare:before-done");
  }
  discard.release();
  return pod;
}

contract::Runtime read_runtime(const Pod& pod) {
  try {
    return contract::parse_runtime(try_read_file_at(pod.fd(), poddir::kRuntime, 1 << 20).value_or(""));
  } catch (const Error& e) {
    throw e.with_context("pod " + pod.uuid());
  }
}

}  // namespace pod::run
