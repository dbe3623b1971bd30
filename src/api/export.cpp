// Runtime::export_app (include/pod/pod.hpp): an app of an exited pod as a new
// ACI. Its tree is the app's rootfs as the app left it: in copy mode the
// pod's copy; in overlay mode the app's upper dir over its image's layers,
// mounted read-only in a private mount namespace of a child process (so no
// mount outlives the export, whatever kills it). The manifest is the image's
// with the app section the pod ran (exec, environment, user, isolators, …).
// The ACI is written to a temp file beside FILE, fsync'ed and renamed.
#include <fcntl.h>
#include <sched.h>
#include <unistd.h>
#include <sys/mount.h>

#include <algorithm>
#include <cerrno>

#include "api/impl.hpp"
#include "appc/names.hpp"
#include "contract/manifest.hpp"
#include "contract/poddir.hpp"
#include "images/build.hpp"
#include "pods/walk.hpp"
#include "util/fs.hpp"
#include "util/process.hpp"
#include "util/split.hpp"

namespace pod {

namespace {

const contract::RuntimeApp& pick_app(const contract::PodManifest& m, const std::string& app, const std::string& uuid) {
  if (app.empty()) {
    if (m.apps.size() == 1) return m.apps.front();
    std::string names;
    for (const auto& a : m.apps) names += (names.empty() ? "" : ", ") + a.name;
    throw usage_error("pod " + uuid + " has " + std::to_string(m.apps.size()) + " apps (" + names + "); name one with --app");
  }
  if (!appc::is_ac_name(app)) throw usage_error("--app " + app + ": not an app name");
  if (const auto* a = m.app(app)) return *a;
  throw not_found_error("pod " + uuid + " has no app named " + app);
}

// The overlay of the app's upper dir over its layers, read-only, at mnt (in this process's mount namespace).
void mount_app_tree(const Pod& pod, const std::string& app, const std::string& mnt) {
  std::string lowers = pod.path() + "/" + poddir::kOverlayDir + "/app-" + app + "/upper";
  for (const auto& l : split(read_file_at(pod.fd(), poddir::app_tree(app)), '\n'))
    if (!l.empty()) lowers += ":" + l;
  if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) < 0) throw_sys("cannot make a private mount namespace");
  if (::mount("overlay", mnt.c_str(), "overlay", MS_RDONLY, ("lowerdir=" + lowers).c_str()) < 0)
    throw_sys("cannot mount the tree of app " + app);
}

}  // namespace

std::string Runtime::export_app(const std::string& uuid, const std::string& app, const std::string& out, bool overwrite) {
  return api::guarded([&] {
    Pod pod = lookup_pod(impl_->store, uuid);
    // (Before the lock: a pod's state reads its lock.)
    const PodState state = pod.state();
    if (state != PodState::Exited && state != PodState::ExitedGarbage)
      throw Error("pod " + pod.uuid() + " is " + std::string(state_name(state)) + "; only an exited pod can be exported", 0,
                  ErrorKind::Conflict);
    // Held until the ACI is written: gc, rm and a restart wait.
    if (!pod.try_lock_exclusive())
      throw Error("pod " + pod.uuid() + " is busy; only an exited pod can be exported", EBUSY, ErrorKind::Conflict);
    const contract::PodManifest m = contract::parse_pod_manifest(read_file_at(pod.fd(), poddir::kManifest));
    const contract::RuntimeApp& ra = pick_app(m, app, pod.uuid());
    auto im = nlohmann::json::parse(read_file_at(pod.fd(), poddir::app_manifest(ra.name)), nullptr, false);
    if (!im.is_object()) throw invalid_error("pod " + pod.uuid() + ": " + poddir::app_manifest(ra.name) + " is not JSON");
    im["app"] = contract::to_json(ra.app);
    const std::string manifest = im.dump(2) + "\n";
    images::BuildOptions o;
    o.overwrite = overwrite;
    const bool overlay = try_read_file_at(pod.fd(), poddir::kRootfsMode).value_or("") == "overlay\n";
    if (!overlay) {
      UniqueFd parent = open_dir_at(pod.fd(), std::string(poddir::kStage1Rootfs) + "/" + poddir::kStage2InRoot + "/" + ra.name);
      return images::write_aci(manifest, parent.get(), "rootfs", out, o);
    }
    int p[2];
    if (::pipe2(p, O_CLOEXEC) < 0) throw_sys("pipe");
    UniqueFd rd(p[0]), wr(p[1]);
    ChildOptions co;
    co.clone_flags = CLONE_NEWNS;
    Child c = Child::start_function(
        [&] {
          rd.reset();
          try {
            mount_app_tree(pod, ra.name, pod.path() + "/" + poddir::kStage1Rootfs);
            // By path: an fd opened before the unshare looks up in the old namespace's mounts.
            UniqueFd parent = open_dir(pod.path() + "/" + poddir::kStage1Dir);
            const std::string id = images::write_aci(manifest, parent.get(), "rootfs", out, o);
            const std::string msg = "ok " + id;
            write_all(wr.get(), msg.data(), msg.size(), "pipe");
            return 0;
          } catch (const std::exception& e) {
            const std::string msg = std::string("error ") + e.what();
            write_all(wr.get(), msg.data(), msg.size(), "pipe");
            return 1;
          }
        },
        co);
    wr.reset();
    const std::string reply = read_fd(rd.get(), "the exporting process's reply", 64 << 10);
    const int rc = c.wait();
    if (rc == 0 && reply.rfind("ok ", 0) == 0) return reply.substr(3);
    throw Error("cannot export app " + ra.name + " of pod " + pod.uuid() + ": " +
                (reply.rfind("error ", 0) == 0 ? reply.substr(6) : "the exporting process " + describe_status(*c.status())));
  });
}

}  // namespace pod
