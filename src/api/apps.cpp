// The public API's apps in a running pod (include/pod/pod.hpp): sandbox, add,
// start, stop, remove, list — each through the stage1's app-ops entrypoint
// (Documentation/stage1-abi.md, "app-ops"), under the pod's apps lock.
//
// add, in this order (a kill -9 between any two steps is safe):
//   1. lock $P/apps.lock; the pod must run; what an earlier add left staged
//      (apps/<name> of no app in the manifest) is removed;
//   2. the image resolved and rendered, trees/<id> refs written (image gc keeps them);
//   3. apps/<name>/{manifest,tree}, overlay/app-<name>/{upper,work} (copy mode: the tree
//      copied into the stage1 rootfs) — staged, not an app yet;
//   4. the pod manifest rewritten atomically with the app: the commit point;
//   5. app-ops add: the tree (and the host volumes the app mounts) mounted in the pod, the init learns the app.
// Volumes the pod gains with the app (AppSpec::volumes) are in the same commit; their mounts in the pod go
// with the pod's mount namespace, or with remove (app-ops remove unmounts them before the manifest drops them).
// After 4 the app exists as "created"; start repeats 5 (idempotent) first, so
// a kill -9 between 4 and 5 costs nothing. gc takes the apps lock before it
// deletes a pod, so it never removes a pod under an app operation.
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <iostream>
#include <nlohmann/json.hpp>
#include <set>

#include "api/impl.hpp"
#include "api/lifecycle.hpp"
#include "appc/image_manifest.hpp"
#include "contract/apporder.hpp"
#include "contract/manifest.hpp"
#include "contract/poddir.hpp"
#include "images/store.hpp"
#include "isolators/isolators.hpp"
#include "isolators/policy.hpp"
#include "pods/info.hpp"
#include "pods/walk.hpp"
#include "run/imageref.hpp"
#include "run/podspec.hpp"
#include "run/prepare.hpp"
#include "stage1abi/stage1.hpp"
#include "util/crashpoint.hpp"
#include "util/fs.hpp"
#include "util/lock.hpp"
#include "util/process.hpp"

namespace pod {

namespace {

using nlohmann::json;

// The app's CRI log file (AppSpec::cri_log), kept for the add a start repeats and for reopen.
constexpr const char* kAnnCriLog = "pod/cri-log";

// app-ops add (or reopen-log) arguments for app `ra`: its name and CRI log file.
std::vector<std::string> app_args(const contract::RuntimeApp& ra) {
  std::vector<std::string> args = {"--app=" + ra.name};
  for (const auto& nv : ra.annotations)
    if (nv.name == kAnnCriLog) args.push_back("--cri-log=" + nv.value);
  return args;
}

std::string line_of(const Pod& pod, const char* file) {
  std::string s = try_read_file_at(pod.fd(), file, 4096).value_or("");
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

contract::PodManifest manifest_of(const Pod& pod) {
  return contract::parse_pod_manifest(read_file_at(pod.fd(), poddir::kManifest, 16 << 20));
}

// The app-ops entrypoint of a pod's stage1, or a clear refusal.
std::string app_ops_entrypoint(const Pod& pod) {
  const stage1::Entrypoints eps = stage1::pod_entrypoints(pod);
  if (eps.app_ops.empty())
    throw Error("the stage1 of pod " + pod.uuid() + " (flavor " + (eps.flavor.empty() ? "?" : eps.flavor) +
                    ") does not support apps in a running pod: its image declares no " + stage1::kAnnAppOps +
                    " entrypoint",
                ENOTSUP);
  return eps.app_ops;
}

// A running pod locked for an app operation.
struct AppsSession {
  Pod pod;
  std::string ep;
  FileLock lock;
  bool debug;

  json call(const std::string& op, std::vector<std::string> args) const {
    args.insert(args.begin(), op);
    if (debug) args.insert(args.begin() + 1, "--debug");
    args.push_back(pod.uuid());
    std::string err;  // with --debug its trace goes to our stderr as it comes
    auto [st, out] = stage1::call_output(pod, ep, args, debug ? nullptr : &err);
    while (!err.empty() && err.back() == '\n') err.pop_back();
    if (st != 0)
      throw Error("stage1 app-ops " + op + " of pod " + pod.uuid() + " failed with status " + std::to_string(st) +
                      (err.empty() ? "" : ": " + err.substr(err.rfind('\n') + 1)),
                  0, ErrorKind::Stage1);
    if (!err.empty()) std::cerr << err << "\n";  // warnings of a call that worked
    auto j = json::parse(out, nullptr, false);
    if (j.is_discarded() || !j.is_object())
      throw Error("stage1 app-ops " + op + " of pod " + pod.uuid() + " printed no JSON object", 0, ErrorKind::Stage1);
    return j;
  }
};

AppsSession session(const Store& store, const std::string& uuid, const char* op, bool debug) {
  Pod pod = lookup_pod(store, uuid);
  std::string ep = app_ops_entrypoint(pod);
  FileLock lock = FileLock::acquire(pod.fd(), poddir::kAppsLock, LockMode::Exclusive);
  // Checked under the lock: gc takes it before it deletes a pod.
  if (PodState s = pod.state(); s != PodState::Running)
    throw conflict_error(std::string("cannot ") + op + " pod " + pod.uuid() + ": it is " + state_name(s), EINVAL);
  if (exists_at(pod.fd(), poddir::kPaused))  // its init is frozen: it could not answer
    throw conflict_error(std::string("cannot ") + op + " pod " + pod.uuid() + ": it is paused; resume it first", EBUSY);
  return AppsSession{std::move(pod), std::move(ep), std::move(lock), debug};
}

void remove_if_there(int dirfd, const std::string& rel) {
  if (stat_at(dirfd, rel)) remove_tree_at(dirfd, rel);
}

// What an app leaves in the pod dir besides its manifest entry.
void remove_app_files(const Pod& pod, const std::string& name) {
  remove_if_there(pod.fd(), std::string(poddir::kAppsDir) + "/" + name);
  remove_if_there(pod.fd(), std::string(poddir::kOverlayDir) + "/app-" + name);
  if (line_of(pod, poddir::kRootfsMode) == "copy")
    remove_if_there(pod.fd(), std::string(poddir::kStage1Rootfs) + "/" + poddir::kStage2InRoot + "/" + name);
  for (const std::string& f : {poddir::app_status(name), poddir::app_times(name), poddir::app_log_times(name), poddir::app_log(name),
                              poddir::app_ready(name)})
    if (::unlinkat(pod.fd(), f.c_str(), 0) < 0 && errno != ENOENT) throw_sys("cannot remove " + f);
}

// Staged apps an add killed before its commit left: no manifest entry, never mounted.
void clean_staged(const Pod& pod, const contract::PodManifest& m) {
  UniqueFd apps = try_open_dir_at(pod.fd(), poddir::kAppsDir);
  if (!apps) return;
  for (const auto& name : list_dir(apps.get()))
    if (!m.app(name)) remove_app_files(pod, name);
}

void commit_manifest(const Pod& pod, const contract::PodManifest& m) {
  write_file_atomic_at(pod.fd(), poddir::kManifest, contract::serialize(m), 0640, Durability::kDurable);
}

std::optional<TimePoint> time_ns(const json& j, const char* key) {
  if (!j.contains(key) || !j[key].is_number_integer() || j[key].get<int64_t>() <= 0) return std::nullopt;
  return TimePoint(std::chrono::duration_cast<TimePoint::duration>(std::chrono::nanoseconds(j[key].get<int64_t>())));
}

// One app from the init's view (or an exit record): state, pid, exit, times.
void fill_state(AppState& a, const json& j) {
  if (j.contains("state") && j["state"].is_string()) a.state = j["state"].get<std::string>();
  if (j.contains("pid") && j["pid"].is_number_integer()) a.pid = j["pid"].get<int>();
  if (j.contains("exitCode") && j["exitCode"].is_number_integer()) a.exit_code = j["exitCode"].get<int>();
  if (j.contains("signal") && j["signal"].is_number_integer()) a.signal = j["signal"].get<int>();
  if (auto t = time_ns(j, "startedAt")) a.started = t;
  if (auto t = time_ns(j, "finishedAt")) a.finished = t;
  if (j.contains("error") && j["error"].is_string()) a.error = j["error"].get<std::string>();
}

std::vector<AppState> states(const Pod& pod, const json* init_view) {
  std::vector<AppState> out;
  const contract::PodManifest m = manifest_of(pod);
  const std::vector<std::string> notifying = notify_apps(pod, m);
  for (const auto& ra : m.apps) {
    AppState a;
    a.notifies = std::find(notifying.begin(), notifying.end(), ra.name) != notifying.end();
    a.readiness = read_app_readiness(pod, ra.name);
    a.name = ra.name;
    a.image_name = ra.image.name;
    a.image_id = ra.image.id;
    a.after = contract::app_after(ra);
    a.after_ready = contract::app_after_ready(ra);
    a.state = "created";  // committed but not known to the init yet (an add killed before app-ops add)
    bool seen = false;
    if (init_view && (*init_view)["apps"].is_array())
      for (const auto& e : (*init_view)["apps"])
        if (e.value("name", "") == ra.name) {
          fill_state(a, e);
          seen = true;
        }
    if (!seen)  // the pod is not running (or the init has forgotten nothing): the records
      for (const std::string& rel : {poddir::app_times(ra.name), poddir::app_status(ra.name)})
        if (auto rec = try_read_file_at(pod.fd(), rel, 4096)) {
          auto j = json::parse(*rec, nullptr, false);
          if (j.is_object()) fill_state(a, j);
          if (rel == poddir::app_status(ra.name)) a.state = "exited";
        }
    out.push_back(std::move(a));
  }
  return out;
}

const AppState& named(const std::vector<AppState>& all, const std::string& uuid, const std::string& app) {
  for (const auto& a : all)
    if (a.name == app) return a;
  throw not_found_error("pod " + uuid + " has no app named \"" + app + "\"");
}

}  // namespace

std::string Runtime::create_sandbox(const PodSpec& spec) {
  return api::guarded([&] {
    if (!spec.apps.empty()) throw usage_error("a sandbox starts with no apps; add them with add_app (pod app add)");
    PodSpec s = spec;
    s.sandbox = true;
    std::optional<Pod> prepared(run::prepare_pod(impl_->store, impl_->images(), s,
                                                 [this](const std::string& m) { impl_->debug(m); },
                                                 [this](const std::string& m) { impl_->notice(m); }));
    Pod& pod = *prepared;
    const std::string uuid = pod.uuid();
    // Started as run-prepared would (run_pod moves it from prepare/, ours and locked, to run/), from an
    // intermediate child that exits at once: the pod's supervisor is then no child of the caller, which
    // (a long-lived server) would otherwise collect a zombie per sandbox.
    ChildOptions mid_opts;
    mid_opts.reset_signals = false;
    Child mid = Child::start_function(
        [&] {
          try {
            api::start_child(uuid, [&] { run::run_pod(pod, nullptr); }, true);
            return 0;
          } catch (const Error& e) {
            ::dprintf(STDERR_FILENO, "pod: %s\n", e.what());
            return static_cast<int>(kExitStage1Failed);
          }
        },
        mid_opts);
    if (int rc = mid.wait(); rc != 0)
      throw Error("cannot start sandbox " + uuid + " (status " + std::to_string(rc) + ")", 0, ErrorKind::Stage1);
    // Our descriptor of the pod dir shares its lock with the stage1 (one open file description): closed,
    // not unlocked, so that the lock is the stage1's alone and the pod shows as exited once it dies.
    prepared.reset();
    const auto deadline = Clock::now() + std::chrono::seconds(60);
    Pod watch = Pod::open(impl_->store, uuid);
    for (;;) {
      const PodState st = watch.state();
      if (st == PodState::Running && exists_at(watch.fd(), poddir::kReady)) return uuid;
      if (st == PodState::Exited || st == PodState::ExitedGarbage || st == PodState::Gone) {
        const std::string why = line_of(watch, poddir::kFailure);
        throw Error("sandbox " + uuid + " exited while starting" + (why.empty() ? "" : ": " + why), 0, ErrorKind::Stage1);
      }
      if (Clock::now() >= deadline) throw Error("sandbox " + uuid + " did not start within 60 s", ETIMEDOUT);
      api::sleep_ms(10);
    }
  });
}

std::string Runtime::add_app(const std::string& uuid, const AppSpec& spec, const FetchOptions& fetch) {
  return api::guarded([&] {
    AppsSession s = session(impl_->store, uuid, "add an app to", impl_->log != nullptr);
    const Pod& pod = s.pod;
    contract::PodManifest m = manifest_of(pod);
    if (run::read_runtime(pod).private_users.count)  // its tree would need the idmapped lowers of run/podns.cpp
      throw Error("pod " + pod.uuid() + " runs with --private-users: adding an app to it is not supported yet",
                  ENOTSUP);
    clean_staged(pod, m);
    // The app as prepare would make it, against the pod's volumes and apps.
    images::ImageStore& is = impl_->images();
    if (!spec.cri_log.empty() && spec.cri_log[0] != '/')
      throw usage_error("the CRI log file " + spec.cri_log + " is not an absolute path");
    AppSpec bare = spec;
    bare.cri_log.clear();
    bare.volumes.clear();
    std::set<std::string> vols;
    for (const auto& v : m.volumes) vols.insert(v.name);
    for (const auto& [k, v] : spec.annotations)
      if (k == contract::kAnnVolumes) throw usage_error("annotation " + k + " is pod's own (give AppSpec::volumes)");
    std::string added;  // the volumes the pod gains with the app, in the commit below
    for (const auto& v : spec.volumes) {
      run::check_volume(v, "volume " + v.name);
      if (!vols.insert(v.name).second)
        throw conflict_error("pod " + pod.uuid() + " has a volume named \"" + v.name + "\" already", EEXIST);
      if (std::none_of(spec.mounts.begin(), spec.mounts.end(), [&](const MountSpec& mt) { return mt.volume == v.name; }))
        throw usage_error("volume " + v.name + " is not mounted by the app (give a mount of it)");
      m.volumes.push_back(run::volume_of(v));
      added += (added.empty() ? "" : ",") + v.name;
    }
    run::ResolvedApp r{bare, run::resolve_image(is, spec.image, fetch), {}};
    r.image_manifest = is.manifest(r.image_id);
    contract::RuntimeApp ra = run::build_app(r, vols);
    if (!spec.cri_log.empty()) ra.annotations.push_back({kAnnCriLog, spec.cri_log});
    if (!added.empty()) ra.annotations.push_back({contract::kAnnVolumes, added});
    if (m.app(ra.name))
      throw conflict_error("pod " + pod.uuid() + " has an app named \"" + ra.name + "\" already; give --name", EEXIST);
    m.apps.push_back(ra);
    contract::check_app_order(m);
    const nlohmann::json s1 = json::parse(read_file_at(pod.fd(), poddir::kStage1Manifest, 1 << 20));
    if (!added.empty() && appc::manifest_annotation(s1, stage1::kAnnAppVolumes).value_or("") != "true")
      throw Error("the stage1 of pod " + pod.uuid() + " (" + s1.value("name", "stage1") + ") cannot add volumes to a "
                      "running pod: its image does not declare " + stage1::kAnnAppVolumes + " (volume " +
                      spec.volumes.front().name + ")",
                  ENOTSUP);
    contract::PodManifest one = m;
    one.apps = {ra};
    isolators::check_pod(one, isolators::stage1_enforces(s1), s1.value("name", "stage1"), false,
                         [this](const std::string& n) { impl_->notice(n); });
    ra = one.apps.front();
    m.apps.back() = ra;
    const bool overlay = line_of(pod, poddir::kRootfsMode) == "overlay";
    auto prep_lock = is.prepare_lock(false);
    const auto stack = overlay ? is.render_stack(r.image_id) : std::vector<images::ImageStore::Tree>{is.render(r.image_id)};
    UniqueFd trees = mkdirs_at(pod.fd(), poddir::kTreesDir, 0755);
    std::string lower;
    for (const auto& t : stack) {
      write_file_at(trees.get(), t.id, "", 0644, Durability::kVolatile);
      lower += t.path + "/rootfs\n";
    }
    crashpoint("app-add:before-stage");
    const std::string& name = ra.name;
    mkdirs_at(pod.fd(), std::string(poddir::kAppsDir) + "/" + name, 0755);
    write_file_at(pod.fd(), poddir::app_manifest(name), r.image_manifest.dump(2) + "\n", 0644, Durability::kVolatile);
    write_file_at(pod.fd(), poddir::app_tree(name), lower, 0644, Durability::kVolatile);
    const std::string workdir = run::oci_missing_workdir(r, stack, ra.app.working_directory);
    if (overlay) {
      UniqueFd upper = mkdirs_at(pod.fd(), std::string(poddir::kOverlayDir) + "/app-" + name + "/upper", 0755);
      mkdirs_at(pod.fd(), std::string(poddir::kOverlayDir) + "/app-" + name + "/work", 0755);
      if (!workdir.empty()) mkdirs_at(upper.get(), workdir, 0755);
    } else {
      const std::string dst = poddir::app_rootfs_in_pod(name);
      UniqueFd root = mkdirs_at(pod.fd(), dst, 0755);
      run_checked({"cp", "-a", "--reflink=auto", stack.front().path + "/rootfs/.", pod.path() + "/" + dst},
                  "copying the tree of app " + name);
      if (!workdir.empty()) mkdirs_at(root.get(), workdir, 0755);
    }
    crashpoint("app-add:before-commit");
    commit_manifest(pod, m);
    crashpoint("app-add:after-commit");
    s.call("add", app_args(ra));
    return name;
  });
}

AppState Runtime::start_app(const std::string& uuid, const std::string& app) {
  return api::guarded([&] {
    AppsSession s = session(impl_->store, uuid, "start an app of", impl_->log != nullptr);
    const contract::PodManifest m = manifest_of(s.pod);
    const contract::RuntimeApp* ra = m.app(app);
    if (!ra) throw not_found_error("pod " + s.pod.uuid() + " has no app named \"" + app + "\"");
    s.call("add", app_args(*ra));  // idempotent: finishes an add killed after its commit
    s.call("start", {"--app=" + app});
    json view = s.call("list", {});
    return named(states(s.pod, &view), s.pod.uuid(), app);
  });
}

std::vector<AppOutcome> Runtime::stop_apps(const std::string& uuid, const std::vector<std::string>& apps,
                                           const AppStopOptions& opts) {
  return api::guarded([&] {
    std::vector<std::string> names;
    std::vector<AppOutcome> out;
    std::string full;
    {
      AppsSession s = session(impl_->store, uuid, "stop apps of", impl_->log != nullptr);
      full = s.pod.uuid();
      json view = s.call("list", {});
      const auto all = states(s.pod, &view);
      if (apps.empty()) {
        for (const auto& a : all)
          if (a.state == "running") names.push_back(a.name);
      } else {
        names = apps;
      }
      // Dependents first: reverse start order among the named apps.
      contract::AppDeps deps;
      for (const auto& a : all)
        if (std::find(names.begin(), names.end(), a.name) != names.end()) deps.emplace_back(a.name, a.after);
      std::vector<std::string> ordered;
      for (size_t i : contract::start_order(deps)) ordered.insert(ordered.begin(), deps[i].first);
      for (const auto& n : names)
        if (std::find(ordered.begin(), ordered.end(), n) == ordered.end()) ordered.push_back(n);  // unknown: reported below
      names = ordered;
      std::vector<std::string> args;
      if (opts.force) args.push_back("--force");
      args.push_back("--timeout=" + std::to_string(std::max<long>(1, static_cast<long>(opts.timeout.count() / 1000))));
      for (const auto& n : names) {
        try {
          const AppState& st = named(all, full, n);
          if (st.state != "running") {  // nothing to stop: not an error (CRI's StopContainer of one)
            out.push_back({n, true, st.state == "created" ? "not started" : "already exited"});
            continue;
          }
          auto a = args;
          a.insert(a.begin(), "--app=" + n);
          s.call("stop", a);
          out.push_back({n, false, ""});
        } catch (const Error& e) {
          out.push_back({n, false, e.what()});
        }
      }
    }
    // Wait (unlocked) for each to exit: its exit record appears.
    const auto deadline = Clock::now() + opts.timeout * 2 + std::chrono::seconds(1);
    Pod pod = lookup_pod(impl_->store, full);
    for (auto& o : out) {
      if (!o.message.empty()) continue;  // failed, or nothing to wait for
      while (!exists_at(pod.fd(), poddir::app_status(o.app)) && pod.state() == PodState::Running &&
             Clock::now() < deadline)
        api::sleep_ms(10);
      o.ok = exists_at(pod.fd(), poddir::app_status(o.app)) || pod.state() != PodState::Running;
      o.message = o.ok ? "stopped" : "still running after " + std::to_string(opts.timeout.count() * 2) + " ms";
    }
    return out;
  });
}

void Runtime::reopen_app_log(const std::string& uuid, const std::string& app) {
  api::guarded([&] {
    AppsSession s = session(impl_->store, uuid, "reopen a log of", impl_->log != nullptr);
    const contract::PodManifest m = manifest_of(s.pod);
    const contract::RuntimeApp* ra = m.app(app);
    if (!ra) throw not_found_error("pod " + s.pod.uuid() + " has no app named \"" + app + "\"");
    const auto args = app_args(*ra);
    if (args.size() < 2) throw conflict_error("app " + app + " of pod " + s.pod.uuid() + " has no CRI log file");
    s.call("reopen-log", args);
  });
}

AppState Runtime::update_app_resources(const std::string& uuid, const std::string& app, const IsolatorSpec& res) {
  return api::guarded([&] {
    if (res.caps_retain || res.caps_remove || res.seccomp || res.oom_score_adj)
      throw usage_error("only the resource limits of a running app can change (memory, cpu, cpu shares, pids); "
                        "capabilities, seccomp and the OOM score are set when it starts");
    if (!res.memory && !res.cpu && !res.cpu_shares && !res.pids_limit) throw usage_error("no resource limit given");
    AppsSession s = session(impl_->store, uuid, "update an app of", impl_->log != nullptr);
    contract::PodManifest m = manifest_of(s.pod);
    auto ra = std::find_if(m.apps.begin(), m.apps.end(), [&](const contract::RuntimeApp& a) { return a.name == app; });
    if (ra == m.apps.end()) throw not_found_error("pod " + s.pod.uuid() + " has no app named \"" + app + "\"");
    contract::PodManifest one = m;  // the new set, validated and checked against the stage1 as add_app does
    one.apps = {*ra};
    one.apps.front().app.isolators = isolators::merge(ra->app.isolators, res);
    const nlohmann::json s1 = json::parse(read_file_at(s.pod.fd(), poddir::kStage1Manifest, 1 << 20));
    isolators::check_pod(one, isolators::stage1_enforces(s1), s1.value("name", "stage1"), false,
                         [this](const std::string& n) { impl_->notice(n); });
    json isos = json::array();
    for (const auto& i : one.apps.front().app.isolators) isos.push_back({{"name", i.name}, {"value", i.value}});
    try {
      s.call("update", {"--app=" + app, "--isolators=" + isos.dump()});
    } catch (const Error& e) {  // the init's refusal names the app and the controller
      if (e.kind() == ErrorKind::Stage1) throw conflict_error(std::string(e.what()), EBUSY);
      throw;
    }
    // Applied, then recorded: a kill -9 in between leaves the limits in force and the old ones in the manifest
    // (and in pod status) until the update is repeated.
    crashpoint("app-update:before-commit");
    ra->app.isolators = one.apps.front().app.isolators;
    commit_manifest(s.pod, m);
    json view = s.call("list", {});
    return named(states(s.pod, &view), s.pod.uuid(), app);
  });
}

void Runtime::remove_app(const std::string& uuid, const std::string& app) {
  api::guarded([&] {
    AppsSession s = session(impl_->store, uuid, "remove an app of", impl_->log != nullptr);
    contract::PodManifest m = manifest_of(s.pod);
    if (!m.app(app)) throw not_found_error("pod " + s.pod.uuid() + " has no app named \"" + app + "\"");
    for (const auto& other : m.apps)
      if (other.name != app)
        for (const auto& d : contract::app_after(other))
          if (d == app)
            throw conflict_error("app " + other.name + " of pod " + s.pod.uuid() + " starts after " + app +
                                 "; remove it first");
    json view = s.call("list", {});
    if (named(states(s.pod, &view), s.pod.uuid(), app).state == "running")
      throw conflict_error("app " + app + " of pod " + s.pod.uuid() + " is running; stop it first", EBUSY);
    // Unmounted in the pod (with the host volumes that go with it: app-ops reads them from the manifest),
    // forgotten by the init; then those volumes leave the manifest with the app.
    s.call("remove", {"--app=" + app});
    const auto own = contract::app_own_volumes(m, app);
    std::erase_if(m.volumes, [&](const contract::Volume& v) { return std::find(own.begin(), own.end(), v.name) != own.end(); });
    std::erase_if(m.apps, [&](const contract::RuntimeApp& a) { return a.name == app; });
    crashpoint("app-rm:before-commit");
    commit_manifest(s.pod, m);
    crashpoint("app-rm:after-commit");
    remove_app_files(s.pod, app);  // a kill -9 before this: staged leftovers the next add removes
  });
}

std::vector<AppState> Runtime::list_apps(const std::string& uuid) const {
  return api::guarded([&] {
    Pod pod = lookup_pod(impl_->store, uuid);
    if (pod.state() != PodState::Running) return states(pod, nullptr);
    app_ops_entrypoint(pod);
    // Read-only: no apps lock (the manifest is replaced atomically).
    const std::string ep = stage1::pod_entrypoints(pod).app_ops;
    auto [st, out] = stage1::call_output(pod, ep, {"list", pod.uuid()});
    auto view = json::parse(out, nullptr, false);
    if (st != 0 || !view.is_object()) {
      if (pod.state() != PodState::Running) return states(pod, nullptr);  // it exited meanwhile
      throw Error("stage1 app-ops list of pod " + pod.uuid() + " failed with status " + std::to_string(st), 0,
                  ErrorKind::Stage1);
    }
    return states(pod, &view);
  });
}

AppState Runtime::app_status(const std::string& uuid, const std::string& app) const {
  const auto all = list_apps(uuid);
  return api::guarded([&] { return named(all, resolve_pod(uuid), app); });
}

}  // namespace pod
