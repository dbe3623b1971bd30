// The public API's pod calls (include/pod/pod.hpp) over src/pods, src/run and
// src/stage1abi.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>

#include "api/impl.hpp"
#include "api/netinfo.hpp"
#include "api/lifecycle.hpp"
#include "appc/names.hpp"
#include "contract/poddir.hpp"
#include "pods/gc.hpp"
#include "pods/walk.hpp"
#include "run/network.hpp"
#include "run/prepare.hpp"
#include "stage1abi/stage1.hpp"
#include "util/fs.hpp"
#include "util/process.hpp"
#include "util/time.hpp"

namespace pod {

namespace {

std::string duration_text(std::chrono::milliseconds d) {
  return d.count() % 1000 == 0 ? std::to_string(d.count() / 1000) + "s" : std::to_string(d.count()) + "ms";
}

bool has_exited(PodState s) {
  return s == PodState::Exited || s == PodState::ExitedGarbage || s == PodState::ExitedDeleting ||
         s == PodState::AbortedPrepare || s == PodState::Garbage || s == PodState::Deleting || s == PodState::Gone;
}

// The prepared pod's runtime.json with the caller's overrides; nullopt when nothing changes.
std::optional<contract::Runtime> overrides(const Pod& pod, const StartOptions& o) {
  if (!o.net && !o.hostname && !o.notify_ready && !o.dns && !o.hosts && !o.interactive && !o.debug) return std::nullopt;
  contract::Runtime rt = run::read_runtime(pod);
  if (o.net) {
    // The same resolution as prepare's, with the ports the pod was prepared with.
    std::vector<contract::PortMapping> ports;
    for (const auto& n : rt.networks) ports.insert(ports.end(), n.ports.begin(), n.ports.end());
    const auto s1 = nlohmann::json::parse(read_file_at(pod.fd(), poddir::kStage1Manifest, 1 << 20));
    run::resolve_networks(rt, *o.net, ports, pod.store().path(), s1, o.net_config_dirs);
  }
  if (o.hostname) rt.hostname = *o.hostname;
  if (o.notify_ready) rt.notify_ready = *o.notify_ready;
  if (o.dns) rt.dns = *o.dns;
  if (o.hosts) {
    rt.hosts.clear();
    for (const auto& [ip, h] : *o.hosts) rt.hosts.push_back({ip, h});
  }
  if (o.interactive) rt.interactive = *o.interactive;
  rt.debug = rt.debug || o.debug;
  return rt;
}

Pod prepared_pod(const Store& store, const std::string& uuid) {
  Pod pod = lookup_pod(store, uuid);
  if (PodState s = pod.state(); s != PodState::Prepared)
    throw conflict_error("cannot run pod " + pod.uuid() + ": it is " + state_name(s) + ", not prepared", EINVAL);
  return pod;
}

}  // namespace

namespace api {
void sleep_ms(long ms) {
  struct timespec ts {ms / 1000, (ms % 1000) * 1000 * 1000};
  ::nanosleep(&ts, nullptr);
}

PodStatus to_public(const PodInfo& info) {
  PodStatus s;
  s.uuid = info.uuid;
  s.state = info.state;
  s.created = info.created;
  s.prepared = info.prepared;
  s.started = info.started;
  s.gc_marked = info.gc_marked;
  if (info.pid) s.pid = *info.pid;
  s.paused = info.paused;
  s.hooks = info.hooks;
  s.apps = info.apps;
  s.failure = info.failure;
  s.manifest_error = info.manifest_error;
  return s;
}
}  // namespace api

const char* state_name(const PodStatus& s) {
  return s.state == PodState::Running && s.paused ? "paused" : state_name(s.state);
}

int RunningPod::wait() {
  if (status_) return *status_;
  try {
    status_ = Child::adopt(pid_, ChildOptions::OnDestroy::kDetach).wait();
  } catch (const Error& e) {
    throw e.with_context("waiting for pod " + uuid_);
  }
  return *status_;
}

Runtime::Runtime(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Runtime::~Runtime() = default;
Runtime::Runtime(Runtime&&) noexcept = default;
Runtime& Runtime::operator=(Runtime&&) noexcept = default;

Runtime Runtime::open(const std::string& dir, bool read_only) {
  return api::guarded([&] { return Runtime(std::make_unique<Impl>(Store::open(resolve_data_dir(dir), read_only))); });
}

const std::string& Runtime::data_dir() const { return impl_->store.path(); }

void Runtime::set_debug_log(std::function<void(const std::string&)> log) { impl_->log = std::move(log); }
void Runtime::set_notice_log(std::function<void(const std::string&)> log) { impl_->notice_log = std::move(log); }

std::string Runtime::create_pod(const PodSpec& spec) {
  return api::guarded([&] {
    PodSpec s = spec;
    Pod pod = run::prepare_pod(impl_->store, impl_->images(), s, [this](const std::string& m) { impl_->debug(m); },
                               [this](const std::string& m) { impl_->notice(m); });
    pod.to_prepared();
    return pod.uuid();
  });
}

void Runtime::exec_new_pod(const PodSpec& spec) {
  api::guarded([&] {
    PodSpec s = spec;
    Pod pod = run::prepare_pod(impl_->store, impl_->images(), s, [this](const std::string& m) { impl_->debug(m); },
                               [this](const std::string& m) { impl_->notice(m); });
    run::run_pod(pod, nullptr);
  });
  throw Error("bug: run_pod returned", 0, ErrorKind::Internal);
}

void Runtime::exec_pod(const std::string& uuid, const StartOptions& opts) {
  api::guarded([&] {
    Pod pod = prepared_pod(impl_->store, uuid);
    auto rt = overrides(pod, opts);
    run::run_pod(pod, rt ? &*rt : nullptr);
  });
  throw Error("bug: run_pod returned", 0, ErrorKind::Internal);
}

RunningPod Runtime::start_pod(const std::string& uuid, const StartOptions& opts) {
  return api::guarded([&] {
    Pod pod = prepared_pod(impl_->store, uuid);
    const std::string full = pod.uuid();
    // Check what can be checked before the fork, so that errors come back as errors.
    auto rt = overrides(pod, opts);
    return api::start_child(full, [&] { run::run_pod(pod, rt ? &*rt : nullptr); }, false);
  });
}

namespace api {
RunningPod start_child(const std::string& uuid, const std::function<void()>& exec_stage1, bool detach) {
  // The child execs the stage1 run entrypoint from exec_stage1; what fails
  // before that comes back through Child's pipe.
  ChildOptions o;
  o.reset_signals = false;  // the pod's supervisor starts with what we have, as after `pod run`
  o.on_destroy = ChildOptions::OnDestroy::kDetach;  // RunningPod owns it from here
  if (detach) {  // nothing of ours (a terminal, a pipe a caller waits on) stays open in the pod
    o.in = o.out = o.err = Redirect::null();
    o.setsid = true;
  }
  o.pre_exec = exec_stage1;
  try {
    return RunningPod(uuid, Child::start_function([] { return kExitStage1Failed; }, o).pid());
  } catch (const Error& e) {
    throw Error(e.what(), e.errnum(), ErrorKind::Stage1);
  }
}
}  // namespace api

int Runtime::run_pod(const std::string& uuid, const StartOptions& opts) {
  RunningPod p = start_pod(uuid, opts);
  return api::guarded([&] { return p.wait(); });
}

bool Runtime::stop_pod(const std::string& uuid, const StopOptions& opts) {
  return api::guarded([&] {
    Pod pod = lookup_pod(impl_->store, uuid);
    PodState s = pod.state();
    if (s == PodState::Exited || s == PodState::ExitedGarbage || s == PodState::ExitedDeleting) return false;
    if (s != PodState::Running) throw conflict_error("cannot stop pod " + pod.uuid() + ": it is " + state_name(s), EINVAL);
    auto eps = stage1::pod_entrypoints(pod);
    if (eps.stop.empty()) throw Error("the stage1 of pod " + pod.uuid() + " has no stop entrypoint");
    api::thaw_if_paused(impl_->log != nullptr, pod);  // frozen apps would not see the SIGTERM
    std::vector<std::string> args;
    if (opts.force) args.push_back("--force");
    args.push_back(pod.uuid());
    int st = stage1::call(pod, eps.stop, args);
    if (st != 0) throw Error("stage1 stop of pod " + pod.uuid() + " failed with status " + std::to_string(st));
    const auto deadline = Clock::now() + opts.timeout;
    while (pod.state() == PodState::Running) {
      if (Clock::now() >= deadline)
        throw Error("pod " + pod.uuid() + " is still running after " + duration_text(opts.timeout) +
                    "; try pod stop --force", ETIMEDOUT);
      api::sleep_ms(10);
    }
    return true;
  });
}

PodStatus Runtime::check_pod_networks(const std::string& uuid) const {
  return api::guarded([&] {
    PodStatus s = pod_status(uuid);
    Pod pod = lookup_pod(impl_->store, uuid);
    if (s.state != PodState::Running)
      throw conflict_error("cannot check the networks of pod " + pod.uuid() + ": it is " + state_name(s.state), EINVAL);
    api::check_networks(pod, s);
    return s;
  });
}

PodStatus Runtime::pod_status(const std::string& uuid) const {
  return api::guarded([&] {
    Pod pod = lookup_pod(impl_->store, uuid);
    PodStatus s = api::to_public(read_pod_info(pod, pod.state()));
    api::add_networks(pod, s);
    api::add_rootfs_info(pod, s);
    if (exists_at(pod.fd(), poddir::kStage1Manifest)) {
      try {
        s.flavor = stage1::pod_entrypoints(pod).flavor;
      } catch (const Error&) {
        // status reports a damaged pod; the stage1 manifest's error shows when it is used
      }
    }
    return s;
  });
}

bool Runtime::wait_pod(const std::string& uuid, std::optional<std::chrono::milliseconds> timeout,
                       bool until_ready) const {
  return api::guarded([&] {
    Pod pod = lookup_pod(impl_->store, uuid);
    const auto deadline = Clock::now() + timeout.value_or(std::chrono::milliseconds(0));
    auto done = [&] {
      PodState s = pod.state();
      return has_exited(s) || (until_ready && s == PodState::Running && exists_at(pod.fd(), poddir::kReady));
    };
    while (!done()) {
      if (timeout && Clock::now() >= deadline) return false;
      api::sleep_ms(20);
    }
    return true;
  });
}

std::vector<PodStatus> Runtime::list_pods(bool summary) const {
  return api::guarded([&] {
    std::vector<PodStatus> out;
    const StateMask mask = kAllStates & ~mask_of(PodState::Embryo) & ~mask_of(PodState::Garbage) &
                           ~mask_of(PodState::Deleting);
    const InfoDetail detail = summary ? InfoDetail::Summary : InfoDetail::Full;
    walk_pods(impl_->store, mask, [&](Pod& p, PodState s) {
      out.push_back(api::to_public(read_pod_info(p, s, detail)));
      api::add_networks(p, out.back());
    });
    return out;
  });
}

void Runtime::remove_pod(const std::string& uuid) {
  api::guarded([&] {
    Pod p = lookup_pod(impl_->store, uuid);
    ::pod::remove_pod(p, stage1::teardown(impl_->log != nullptr), [this](const std::string& m) { impl_->notice(m); });
  });
}

GcReport Runtime::gc(const GcOptions& opts) {
  return api::guarded([&] {
    GcSettings o;
    o.grace_period = opts.grace_period;
    o.expire_prepared = opts.expire_prepared;
    o.mark_only = opts.mark_only;
    GcResult r = gc_pods(impl_->store, o, stage1::teardown(impl_->log != nullptr),
                         [this](const std::string& m) { impl_->notice(m); });
    return GcReport{r.marked, r.collected, r.kept, r.failures, r.detached};
  });
}

std::string Runtime::pod_manifest(const std::string& uuid) const {
  return api::guarded([&] {
    Pod pod = lookup_pod(impl_->store, uuid);
    auto text = try_read_file_at(pod.fd(), poddir::kManifest, 16 << 20);
    if (!text) throw not_found_error("pod " + pod.uuid() + " has no manifest yet");
    return contract::serialize(contract::parse_pod_manifest(*text));
  });
}

std::string Runtime::app_log(const std::string& uuid, const std::string& app) const {
  return api::guarded([&] {
    Pod pod = lookup_pod(impl_->store, uuid);
    if (!appc::is_ac_name(app)) throw usage_error("\"" + app + "\" is not an app name");
    return try_read_file_at(pod.fd(), poddir::app_log(app), size_t(1) << 30).value_or("");
  });
}

std::string Runtime::resolve_pod(const std::string& uuid_or_prefix) const {
  return api::guarded([&] { return lookup_pod(impl_->store, uuid_or_prefix).uuid(); });
}

}  // namespace pod
