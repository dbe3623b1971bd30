// The public API's operations on a running pod (include/pod/pod.hpp): kill,
// pause, resume, stats — each a call of the stage1's entrypoint of that name
// (Documentation/stage1-abi.md) — and reading the apps' logs.
//
// pause and resume are serialized by the pod's control lock ($P/control.lock)
// against each other, kill and stop. The `paused` marker is written before
// the stage1 freezes the pod and removed only after it thawed it, so it is
// there whenever the pod may be frozen (a kill -9 in between leaves the marker
// on a pod that is not frozen, never a frozen pod without it); it means
// something only while the pod runs (pod-lifecycle.md).
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <nlohmann/json.hpp>

#include "api/impl.hpp"
#include "api/lifecycle.hpp"
#include "contract/poddir.hpp"
#include "pods/walk.hpp"
#include "run/prepare.hpp"
#include "stage1abi/stage1.hpp"
#include "util/fs.hpp"
#include "util/lock.hpp"

namespace pod {

namespace {

using nlohmann::json;

Pod running_pod(const Store& store, const std::string& uuid, const char* op) {
  Pod pod = lookup_pod(store, uuid);
  if (PodState s = pod.state(); s != PodState::Running)
    throw conflict_error(std::string("cannot ") + op + " pod " + pod.uuid() + ": it is " + state_name(s), EINVAL);
  return pod;
}

std::vector<std::string> debug_args(bool debug) {
  return debug ? std::vector<std::string>{"--debug"} : std::vector<std::string>{};
}

void call_checked(const Pod& pod, std::string stage1::Entrypoints::*ep, const char* name, std::vector<std::string> args) {
  const std::string path = stage1::required_entrypoint(pod, ep, name);
  args.push_back(pod.uuid());
  int st = stage1::call(pod, path, args);
  if (st != 0) throw Error(std::string("stage1 ") + name + " of pod " + pod.uuid() + " failed with status " + std::to_string(st));
}

json call_json(const Pod& pod, std::string stage1::Entrypoints::*ep, const char* name, std::vector<std::string> args) {
  const std::string path = stage1::required_entrypoint(pod, ep, name);
  args.push_back(pod.uuid());
  auto [st, out] = stage1::call_output(pod, path, args);
  if (st != 0) throw Error(std::string("stage1 ") + name + " of pod " + pod.uuid() + " failed with status " + std::to_string(st));
  auto j = json::parse(out, nullptr, false);
  if (j.is_discarded() || !j.is_object())
    throw Error(std::string("stage1 ") + name + " of pod " + pod.uuid() + " printed no JSON object", 0, ErrorKind::Stage1);
  return j;
}

FileLock control_lock(const Pod& pod) { return FileLock::acquire(pod.fd(), poddir::kControlLock, LockMode::Exclusive); }

// Thaw, then drop the marker (the lock held).
void thaw(const Pod& pod, const std::vector<std::string>& dbg) {
  call_checked(pod, &stage1::Entrypoints::resume, "resume", dbg);
  if (::unlinkat(pod.fd(), poddir::kPaused, 0) < 0 && errno != ENOENT) throw_sys("cannot remove the paused marker");
}

std::optional<uint64_t> counter(const json& j, const char* key) {
  if (j.contains(key) && j[key].is_number_unsigned()) return j[key].get<uint64_t>();
  return std::nullopt;
}

Usage usage_of(const json& j) {
  Usage u;
  u.cpu_ns = counter(j, "cpuNs");
  u.memory_bytes = counter(j, "memoryBytes");
  u.pids = counter(j, "pids");
  u.source = j.value("source", "");
  return u;
}

}  // namespace

namespace api {
void thaw_if_paused(bool debug, const Pod& pod) {
  FileLock l = control_lock(pod);
  if (exists_at(pod.fd(), poddir::kPaused)) thaw(pod, debug_args(debug));
}
}  // namespace api

std::vector<AppOutcome> Runtime::kill_pod(const std::string& uuid, const KillOptions& opts) {
  return api::guarded([&] {
    if (opts.signal < 1 || opts.signal > 64) throw usage_error("signal " + std::to_string(opts.signal) + " is out of range");
    Pod pod = running_pod(impl_->store, uuid, "kill");
    std::vector<std::string> named = opts.apps;
    if (!opts.app.empty() && std::find(named.begin(), named.end(), opts.app) == named.end()) named.insert(named.begin(), opts.app);
    std::vector<std::string> known;
    for (const auto& a : read_pod_info(pod, PodState::Running, InfoDetail::Summary).apps) known.push_back(a.name);
    auto is_known = [&](const std::string& n) { return std::find(known.begin(), known.end(), n) != known.end(); };
    if (named.size() == 1 && !is_known(named[0]))
      throw not_found_error("pod " + pod.uuid() + " has no app named \"" + named[0] + "\"");
    api::thaw_if_paused(impl_->log != nullptr, pod);  // the pod init must run to deliver it
    std::vector<std::string> args = debug_args(impl_->log != nullptr);
    args.push_back("--signal=" + std::to_string(opts.signal));
    std::vector<AppOutcome> out;
    auto deliver = [&](const std::vector<std::string>& a) {
      json reply = call_json(pod, &stage1::Entrypoints::kill, "kill", a);
      if (reply.contains("apps") && reply["apps"].is_object())
        for (const auto& [app, outcome] : reply["apps"].items()) {
          std::string msg = outcome.is_string() ? outcome.get<std::string>() : outcome.dump();
          out.push_back({app, msg == "signalled", msg});
        }
    };
    if (named.empty()) deliver(args);
    // Several apps: one request each, so that one app's failure is its own outcome.
    for (const auto& n : named) {
      if (!is_known(n)) {
        out.push_back({n, false, "pod " + pod.uuid() + " has no app named \"" + n + "\""});
        continue;
      }
      auto a = args;
      a.push_back("--app=" + n);
      try {
        deliver(a);
      } catch (const Error& e) {
        out.push_back({n, false, e.what()});
      }
    }
    return out;
  });
}

bool Runtime::pause_pod(const std::string& uuid) {
  return api::guarded([&] {
    Pod pod = running_pod(impl_->store, uuid, "pause");
    const std::string ep = stage1::required_entrypoint(pod, &stage1::Entrypoints::pause, "pause");
    FileLock l = control_lock(pod);
    if (exists_at(pod.fd(), poddir::kPaused)) return false;
    pod.write_time(poddir::kPaused);
    std::vector<std::string> args = debug_args(impl_->log != nullptr);
    args.push_back(pod.uuid());
    std::string err;
    const int st = stage1::call_output(pod, ep, args, &err).first;
    if (st == 0) return true;
    while (!err.empty() && err.back() == '\n') err.pop_back();
    if (st == stage1::kPauseRefused) {  // nothing was frozen: no thaw, the marker goes at once
      if (::unlinkat(pod.fd(), poddir::kPaused, 0) < 0 && errno != ENOENT) throw_sys("cannot remove the paused marker");
      throw Error("stage1 pause of pod " + pod.uuid() + " refused: " + (err.empty() ? "(it said nothing)" : err), ENOTSUP,
                  ErrorKind::Invalid);
    }
    const std::string failed = "stage1 pause of pod " + pod.uuid() + " failed with status " + std::to_string(st) +
                               (err.empty() ? "" : ": " + err);
    // Maybe half frozen: thaw what may be; the marker goes only once that worked.
    try {
      thaw(pod, debug_args(impl_->log != nullptr));
    } catch (const Error& e) {
      throw Error(failed + "; thawing after it failed too (the pod stays marked paused; pod resume retries): " +
                  e.what());
    }
    throw Error(failed);
  });
}

bool Runtime::resume_pod(const std::string& uuid) {
  return api::guarded([&] {
    Pod pod = running_pod(impl_->store, uuid, "resume");
    stage1::required_entrypoint(pod, &stage1::Entrypoints::resume, "resume");
    FileLock l = control_lock(pod);
    if (!exists_at(pod.fd(), poddir::kPaused)) return false;
    thaw(pod, debug_args(impl_->log != nullptr));
    return true;
  });
}

RunningPod Runtime::restart_pod(const std::string& uuid, const StopOptions& stop, bool detach) {
  return api::guarded([&] {
    Pod pod = lookup_pod(impl_->store, uuid);
    if (PodState s = pod.state(); s == PodState::Running) stop_pod(pod.uuid(), stop);
    else if (s != PodState::Exited)
      throw conflict_error("cannot restart pod " + pod.uuid() + ": it is " + state_name(s) +
                               (s == PodState::Prepared ? "; start it with run-prepared" : ""),
                           EINVAL);
    return api::start_child(pod.uuid(), [&] { run::run_pod(pod, nullptr, /*restart=*/true); }, detach);
  });
}

PodStats Runtime::pod_stats(const std::string& uuid) const {
  return api::guarded([&] {
    Pod pod = running_pod(impl_->store, uuid, "read the stats of");
    json j = call_json(pod, &stage1::Entrypoints::stats, "stats", debug_args(impl_->log != nullptr));
    PodStats s;
    s.uuid = pod.uuid();
    s.taken = Clock::now();
    s.paused = exists_at(pod.fd(), poddir::kPaused);
    s.pod = usage_of(j.value("pod", json::object()));
    const json apps = j.value("apps", json::object());
    // In manifest order (the stage1 may answer in any).
    for (const auto& a : read_pod_info(pod, PodState::Running).apps) {
      AppStats as;
      as.name = a.name;
      if (apps.contains(a.name) && apps[a.name].is_object()) {
        const json& e = apps[a.name];
        as.running = e.value("running", false);
        if (e.contains("exitCode") && e["exitCode"].is_number_integer()) as.exit_code = e["exitCode"].get<int>();
        as.usage = usage_of(e);
      } else if (a.exit) {
        as.exit_code = a.exit->exit_code;
      } else {
        as.running = true;  // the stage1 could not ask (a paused pod): no numbers, but not exited
      }
      s.apps.push_back(std::move(as));
    }
    return s;
  });
}

}  // namespace pod
