#include "supervisor.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>
#include <algorithm>
#include <chrono>

#include "cgroups.hpp"
#include "contract/apporder.hpp"
#include "control.hpp"
#include "exec.hpp"
#include "handlers.hpp"
#include "log.hpp"
#include "output.hpp"
#include "readiness.hpp"
#include "rootfs.hpp"
#include "running.hpp"
#include "spawn.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"
#include "util/process.hpp"

namespace pod::init {

namespace {

void noop_handler(int) {}

// PID 1 of a namespace only gets signals it has a handler for, so install
// one (blocked; they are read from a signalfd).
UniqueFd setup_signals() {
  sigset_t set;
  sigemptyset(&set);
  for (int s : {SIGCHLD, SIGTERM, SIGINT, SIGHUP}) {
    sigaddset(&set, s);
    struct sigaction sa {};
    sa.sa_handler = noop_handler;
    ::sigaction(s, &sa, nullptr);
  }
  if (::sigprocmask(SIG_BLOCK, &set, nullptr) < 0) throw_sys("sigprocmask");
  // A reader of our stdout/stderr that went away is an EPIPE for the
  // output copy (output.hpp), not our end. The apps get the default back.
  ::signal(SIGPIPE, SIG_IGN);
  int fd = ::signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
  if (fd < 0) throw_sys("signalfd");
  return UniqueFd(fd);
}

void kill_all(int sig) {
  if (::getpid() == 1) {
    ::kill(-1, sig);  // everything in our pid namespace but us
  }
}

// How long the init waits at the end for a reader of its stdout/stderr that
// has stopped taking the apps' output.
constexpr int kOutputStallMs = 1000;

class Supervisor {
 public:
  Supervisor(const PodConfig& cfg, int pod_dirfd) : cfg_(cfg), pod_dirfd_(pod_dirfd) {
    for (const auto& a : cfg.apps) add_running(a);
  }

  int run() {
    UniqueFd sigfd = setup_signals();
    notify_stage1("STATUS=starting");
    status_dir_ = mkdirs_at(pod_dirfd_, poddir::kAppStatusDir);
    times_dir_ = mkdirs_at(pod_dirfd_, poddir::kAppTimesDir);
    logs_dir_ = mkdirs_at(pod_dirfd_, poddir::kLogsDir);
    log_times_dir_ = mkdirs_at(pod_dirfd_, poddir::kLogTimesDir);
    if (copies_output(cfg_.runtime)) console_.emplace();
    if (const char* path = ::getenv("POD_INIT_CONTROL"); path && *path) control_ = control_listen(path);
    ready_watch_ = ReadyWatch::from_env();
    for (auto& r : apps_) r.pending = true;
    start_pending();
    loop(sigfd.get());
    std::vector<int> codes;
    for (const auto& r : apps_) codes.push_back(r.exit_code.value_or(0));
    return pod_exit_status(codes);
  }

 private:
  void add_running(const App& a) {
    Running r;
    r.app = a;
    apps_.push_back(std::move(r));
  }

  Running* find(const std::string& name) {
    for (auto& r : apps_)
      if (r.app.name == name) return &r;
    return nullptr;
  }

  // Its root (/proc, /dev, volumes, …), its exec, handlers and cgroup; then its
  // pre-start handler, or the app itself. Apps do not wait for each other's pre-start.
  void start_app(Running& r) {
    prepare_app_rootfs(r.app, cfg_);
    r.spec = prepare_exec(r.app, cfg_.runtime.interactive);
    if (!r.app.pre_start.empty()) r.pre_start = prepare_handler(r.app, kPreStart, r.app.pre_start);
    if (!r.app.post_stop.empty()) r.post_stop = prepare_handler(r.app, kPostStop, r.app.post_stop);
    r.cgroup = cgroups_.create(r.app);
    r.begun = true;
    if (r.pre_start) {
      r.phase = Phase::kInPreStart;
      r.handler = start_handler(*r.pre_start, kPreStart, r.cgroup, logs_dir_.get());
      log_debug("started the pre-start handler of " + r.app.name + " as pid " + std::to_string(r.handler.pid()));
    } else {
      start_main(r);
    }
  }

  void start_main(Running& r) {
    const std::string prefix = apps_.size() > 1 || cfg_.sandbox ? r.app.name + ": " : "";
    r.child = spawn_app(r.io, *r.spec, r.cgroup, cfg_.runtime, {logs_dir_.get(), log_times_dir_.get()},
                        console_ ? &*console_ : nullptr, prefix);
    r.phase = Phase::kMain;
    r.started_at = now_ns(CLOCK_REALTIME);
    write_file_atomic_at(times_dir_.get(), r.app.name, times_record(r), 0644, Durability::kVolatile);
    log_debug("started app " + r.app.name + " as pid " + std::to_string(r.child.pid()));
  }

  // The boot apps, each after the ones it names (pod/after) in start order,
  // one by one, each once those have started (NAME) or said READY=1
  // (NAME:ready). One waiting for an app that ended before it was ready fails
  // without running. A failure to start one ends the pod.
  void start_pending() {
    try {
      contract::AppDeps deps;
      for (const auto& r : apps_) deps.emplace_back(r.app.name, r.app.after);
      for (size_t i : contract::start_order(deps)) {
        Running& r = apps_[i];
        if (!r.pending || stopping_) continue;
        std::string failed, waiting;
        for (const auto& d : r.app.after) {
          Running* dep = find(d);
          if (!dep) continue;
          const bool wants_ready = std::find(r.app.after_ready.begin(), r.app.after_ready.end(), d) != r.app.after_ready.end();
          if (dep->pending || (wants_ready && !is_ready(*dep) && !dep->exit_code)) waiting = d;
          else if (wants_ready && !is_ready(*dep)) failed = d;
        }
        if (!failed.empty()) {
          r.pending = false;
          r.exit_code = 1;
          r.finished_at = now_ns(CLOCK_REALTIME);
          r.phase = Phase::kDone;
          r.error = "app " + failed + " exited before it was ready (--after " + failed + ":ready)";
          log_warn("app " + r.app.name + " does not start: " + r.error);
          write_record(r);
        } else if (waiting.empty()) {
          r.pending = false;
          start_app(r);
        }
      }
    } catch (...) {
      end_pod();
      throw;
    }
    maybe_ready();
  }

  // Has it said READY=1? Read again when not known yet: an app that said it
  // and exited at once may be reaped before its record's event is read.
  bool is_ready(Running& r) {
    if (!r.ready && ready_watch_ && ready_watch_->ready(r.app.name)) r.ready = true;
    return r.ready;
  }

  // An app's record in appready/ changed: who is ready now, and who may start.
  void readiness_changed() {
    ready_watch_->drain();
    for (auto& r : apps_)
      if (!r.ready && ready_watch_->ready(r.app.name)) {
        r.ready = true;
        log_debug("app " + r.app.name + " is ready");
      }
    start_pending();
  }

  // Is its READY=1 waited for? It has a NOTIFY_SOCKET and the stage1 records readiness.
  bool waits_for_ready(const Running& r) const { return ready_watch_ && !app_notify_source(r.app.name).empty(); }

  // `ready` once no app waits for its pre-start handler or to be started, and
  // every app with a NOTIFY_SOCKET has said READY=1 (--notify-ready=app).
  void maybe_ready() {
    if (ready_ || std::any_of(apps_.begin(), apps_.end(), [this](const Running& r) {
          return r.phase == Phase::kInPreStart || r.pending || (!r.ready && waits_for_ready(r));
        }))
      return;
    write_file_at(pod_dirfd_, poddir::kReady, "", 0644, Durability::kVolatile);
    notify_stage1("READY=1");
    ready_ = true;
  }

  size_t running() const {
    size_t n = 0;
    for (const auto& r : apps_) n += r.running() + r.handler.running();
    return n;
  }

  void write_record(const Running& r) {
    write_file_atomic_at(status_dir_.get(), r.app.name, exit_record(r, r.cgroup.oom_killed()), 0644,
                         Durability::kVolatile);
  }

  void record_exit(Running& r, int st) {
    if (WIFSIGNALED(st)) r.signal = WTERMSIG(st);
    r.exit_code = exit_code_of(st);
    r.finished_at = now_ns(CLOCK_REALTIME);
    r.kill_at.reset();
    write_file_atomic_at(times_dir_.get(), r.app.name, times_record(r), 0644, Durability::kVolatile);
    write_record(r);
    log_debug("app " + r.app.name + " exited with " + std::to_string(*r.exit_code));
  }

  // The app's main process ended: its record; then its post-stop handler,
  // which has until the stop timeout.
  void main_ended(Running& r, int status) {
    record_exit(r, status);
    r.phase = Phase::kDone;
    if (!r.post_stop) return;
    r.handler = start_handler(*r.post_stop, kPostStop, r.cgroup, logs_dir_.get());
    r.handler_deadline = std::chrono::steady_clock::now() + std::chrono::seconds(stop_timeout_s());
    r.handler_timed_out = false;
    r.phase = Phase::kInPostStop;
  }

  void handler_ended(Running& r, int status) {
    const char* name = r.phase == Phase::kInPreStart ? kPreStart : kPostStop;
    HandlerOutcome o = handler_outcome(logs_dir_.get(), r.app.name, name, status, r.handler_timed_out);
    log_debug("the " + std::string(name) + " handler of " + r.app.name + " exited with " + std::to_string(o.exit_code));
    r.handler_deadline.reset();
    if (r.phase == Phase::kInPostStop) {
      r.post_outcome = std::move(o);
      r.phase = Phase::kDone;
      write_record(r);
      return;
    }
    const bool ok = o.exit_code == 0;
    r.pre_outcome = std::move(o);
    if (ok && !stopping_ && !r.term_sent) {
      start_main(r);
    } else {
      // A failed pre-start fails the app, which never ran (no post-stop either).
      if (!ok) log_warn("app " + r.app.name + ": its pre-start handler exited with " + std::to_string(r.pre_outcome->exit_code));
      r.exit_code = r.pre_outcome->exit_code;
      r.finished_at = now_ns(CLOCK_REALTIME);
      r.phase = Phase::kDone;
      write_record(r);
    }
    maybe_ready();
  }

  // Collect every child that ended (block: until none is left): the apps'
  // and their handlers'; orphans re-parented to us are just reaped.
  void reap(bool block = false) {
    while (auto ended = reap_any(block)) {
      for (auto& r : apps_) {
        if (r.child.collect(*ended)) main_ended(r, ended->status);
        else if (r.handler.collect(*ended)) handler_ended(r, ended->status);
      }
    }
    if (std::any_of(apps_.begin(), apps_.end(), [](const Running& r) { return r.pending; })) start_pending();
    if (stopping_) advance_stop();
  }

  // Whatever the apps left behind (daemons) goes with the pod; then what
  // they wrote last is copied out. Handlers still running are killed too and
  // get no record (the pod failed).
  void end_pod() {
    kill_all(SIGKILL);
    while (auto ended = reap_any(true)) {
      for (auto& r : apps_)
        if (r.child.collect(*ended)) {
          if (status_dir_) record_exit(r, ended->status);
        } else {
          r.handler.collect(*ended);
        }
    }
    for (auto& r : apps_)
      for (auto& st : r.io.streams) st.drain();
    if (console_) console_->finish(kOutputStallMs);
  }

  int stop_timeout_s() const { return cfg_.runtime.stop_timeout_s > 0 ? cfg_.runtime.stop_timeout_s : 1; }

  // ms until the first post-stop handler's deadline (-1: none), killing
  // (process group) those past it.
  int handler_timeouts() {
    const auto now = std::chrono::steady_clock::now();
    int wait = -1;
    for (auto& r : apps_) {
      if (!r.handler_deadline || !r.handler.running()) continue;
      if (now >= *r.handler_deadline) {
        log_warn("app " + r.app.name + ": its post-stop handler still runs after " + std::to_string(stop_timeout_s()) +
                 "s, killing it");
        ::kill(-r.handler.pid(), SIGKILL);
        r.handler.signal(SIGKILL);
        r.handler_timed_out = true;
        r.handler_deadline.reset();
        continue;
      }
      const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(*r.handler_deadline - now).count() + 1;
      wait = wait < 0 ? static_cast<int>(ms) : std::min(wait, static_cast<int>(ms));
    }
    return wait;
  }

  // A pod stop: apps in reverse start order, each once no running app that
  // starts after it (pod/after) is left; all at once without an order.
  void advance_stop() {
    for (auto& r : apps_) {
      if (r.phase == Phase::kInPreStart && r.handler.running() && !r.term_sent) {
        r.handler.signal(SIGTERM);  // the app is not started then
        r.term_sent = true;
        continue;
      }
      if (!r.running() || r.term_sent) continue;
      bool needed = false;
      for (const auto& o : apps_)
        if (o.running() && std::find(o.app.after.begin(), o.app.after.end(), r.app.name) != o.app.after.end())
          needed = true;
      if (needed) continue;
      log_debug("stopping app " + r.app.name);
      r.child.signal(SIGTERM);
      r.term_sent = true;
    }
  }

  void stop(int sig, int timerfd) {
    log_debug(std::string("stopping the apps (") + strsignal(sig) + ")");
    struct itimerspec its {};
    its.it_value.tv_sec = stop_timeout_s();
    if (!stopping_) ::timerfd_settime(timerfd, 0, &its, nullptr);
    stopping_ = true;
    advance_stop();
  }

  // The nearest app stop deadline as a poll timeout (-1: none); apps past
  // theirs are killed with everything in their process group.
  int app_deadlines() {
    int timeout = -1;
    const int64_t now = monotonic_ms();
    for (auto& r : apps_) {
      if (!r.kill_at || !r.running()) continue;
      if (*r.kill_at <= now) {
        log_warn("app " + r.app.name + " still running after its stop timeout, killing it");
        ::kill(-r.child.pid(), SIGKILL);
        r.child.signal(SIGKILL);
        r.kill_at.reset();
        continue;
      }
      const int left = static_cast<int>(*r.kill_at - now);
      timeout = timeout < 0 ? left : std::min(timeout, left);
    }
    return timeout;
  }

  void loop(int sigfd) {
    int tfd = ::timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
    if (tfd < 0) throw_sys("timerfd_create");
    UniqueFd timer(tfd);
    reap();
    // A sandbox waits for its stop, with or without apps.
    while (running() > 0 || (cfg_.sandbox && !stopping_)) {
      std::vector<pollfd> p = {{sigfd, POLLIN, 0}, {tfd, POLLIN, 0}};
      std::vector<AppStream*> polled;
      for (auto& r : apps_)
        for (auto& st : r.io.streams)
          if (st.fd() >= 0) {
            p.push_back({st.fd(), POLLIN, 0});
            polled.push_back(&st);
          }
      if (console_) console_->add_pollfds(p);
      const size_t ready_at = p.size();
      if (ready_watch_) p.push_back({ready_watch_->fd(), POLLIN, 0});
      if (control_) p.push_back({control_.get(), POLLIN, 0});
      const int a = app_deadlines(), h = handler_timeouts();
      if (::poll(p.data(), p.size(), a < 0 ? h : h < 0 ? a : std::min(a, h)) < 0) {
        if (errno == EINTR) continue;
        throw_sys("poll");
      }
      for (size_t i = 0; i < polled.size(); ++i)
        if (p[2 + i].revents) polled[i]->pump();
      if (console_) console_->handle(p);
      if (ready_watch_ && (p[ready_at].revents & POLLIN)) readiness_changed();
      // Last: an app operation may add or remove apps (and their streams).
      if (control_ && (p.back().revents & POLLIN))
        serve_control(control_.get(), [this](const nlohmann::json& req, UniqueFd& fd) { return control(req, fd); });
      if (p[1].revents & POLLIN) {
        log_warn("apps still running " + std::to_string(cfg_.runtime.stop_timeout_s) + "s after SIGTERM, killing them");
        uint64_t n;
        (void)!::read(tfd, &n, sizeof n);
        kill_all(SIGKILL);
        for (const auto& r : apps_) r.child.signal(SIGKILL);
      }
      struct signalfd_siginfo si;
      while (::read(sigfd, &si, sizeof si) == sizeof si) {
        int sig = static_cast<int>(si.ssi_signo);
        if (sig == SIGTERM || sig == SIGINT || sig == SIGHUP) stop(sig, tfd);
      }
      reap();
    }
    end_pod();
  }

  std::vector<AppHandle> handles() const {
    std::vector<AppHandle> out;
    for (const auto& r : apps_) out.push_back({r.app.name, r.child ? r.child.pid() : 0, r.running(), r.exit_code});
    return out;
  }

  static nlohmann::json describe(const Running& r) {
    nlohmann::json j = {{"name", r.app.name}, {"state", r.state()}};
    if (r.child) j["pid"] = r.child.pid();
    if (r.exit_code) j["exitCode"] = *r.exit_code;
    if (r.signal) j["signal"] = *r.signal;
    if (r.started_at) j["startedAt"] = r.started_at;
    if (r.finished_at) j["finishedAt"] = r.finished_at;
    return j;
  }

  // One control request (control.hpp): the app operations here, the rest in
  // handle_control_request. Never throws: errors are {"error": …}.
  nlohmann::json control(const nlohmann::json& req, UniqueFd& fd) {
    const std::string op = req.value("op", "");
    try {
      if (op == "apps") {
        nlohmann::json list = nlohmann::json::array();
        for (const auto& r : apps_) list.push_back(describe(r));
        return {{"sandbox", cfg_.sandbox}, {"apps", list}};
      }
      if (op == "add" || op == "start" || op == "stop" || op == "remove" || op == "reopen-log" || op == "update")
        return app_op(op, req, fd);
      return handle_control_request(req, handles());
    } catch (const std::exception& e) {
      return {{"error", e.what()}};
    }
  }

  nlohmann::json app_op(const std::string& op, const nlohmann::json& req, UniqueFd& fd) {
    if (!req.contains("app") || !req["app"].is_string()) throw Error(op + ": no app given");
    const std::string name = req["app"].get<std::string>();
    if (op == "add") {
      // What stage0 committed to /pod/pod: an app the init does not know yet.
      if (stopping_) throw Error("the pod is stopping");
      if (!find(name)) {
        PodConfig fresh = load_config(pod_dirfd_);
        const App* a = fresh.app(name);
        if (!a) throw Error("the pod manifest has no app named \"" + name + "\"");
        add_running(*a);
        cfg_.apps.push_back(*a);
        for (const auto& v : fresh.volumes)  // the volumes the pod gained with it
          if (!cfg_.volume(v.name)) cfg_.volumes.push_back(v);
      }
      Running& r = *find(name);
      if (fd) give_cri_log(r.io, std::move(fd), name, r.begun, cfg_.runtime);
      return {{"app", describe(r)}};
    }
    Running* r = find(name);
    if (!r && op == "remove") {  // committed and mounted, but an add was killed before it told us
      unmount_tree(app_rootfs(name));
      return {{"removed", name}};
    }
    if (!r) throw Error("the pod has no app named \"" + name + "\"");
    if (op == "reopen-log") {
      if (!fd) throw Error("reopen-log: no file came with the request");
      reopen_cri_log(r->io, std::move(fd), name);
      return {{"app", describe(*r)}};
    }
    if (op == "update") {  // new limits: the app's whole isolator set, validated by stage0
      const auto& isos = req.value("isolators", nlohmann::json());
      if (!isos.is_array()) throw Error("update: no isolators given");
      std::vector<contract::Isolator> list;
      for (const auto& i : isos) {
        if (!i.is_object() || !i.contains("name") || !i["name"].is_string() || !i.contains("value"))
          throw Error("update: an isolator is not {\"name\", \"value\"}");
        list.push_back({i["name"].get<std::string>(), i["value"]});
      }
      isolators::Isolators next = isolators::parse(list, "app " + name);
      if (r->running()) cgroups_.update(r->app, next, r->cgroup);  // else its next start makes them so
      r->app.iso = next;
      for (auto& a : cfg_.apps)
        if (a.name == name) a.iso = next;
      return {{"app", describe(*r)}};
    }
    if (op == "start") {
      if (stopping_) throw Error("the pod is stopping");
      if (!r->created()) throw Error("app " + name + " is " + r->state() + ", not created");
      for (const auto& d : r->app.after) {
        const Running* dep = find(d);
        if (dep && dep->created()) throw Error("app " + name + " starts after " + d + ", which has not been started");
      }
      for (const auto& d : r->app.after_ready)
        if (Running* dep = find(d); dep && !is_ready(*dep))
          throw Error("app " + name + " starts once " + d + " is ready, which it has not said (READY=1)");
      start_app(*r);
      return {{"app", describe(*r)}};
    }
    if (op == "stop") {
      if (r->running()) {
        const bool force = req.value("force", false);
        const int timeout_s = req.value("timeout", cfg_.runtime.stop_timeout_s);
        r->child.signal(force ? SIGKILL : SIGTERM);
        if (!force) r->kill_at = monotonic_ms() + 1000 * static_cast<int64_t>(timeout_s > 0 ? timeout_s : 1);
      }
      else if (r->phase == Phase::kInPreStart && r->handler.running()) {
        r->handler.signal(SIGTERM);  // the app is not started then
        r->term_sent = true;
      }
      return {{"app", describe(*r)}};
    }
    // remove
    if (r->running() || r->handler.running()) throw Error("app " + name + " is running; stop it first");
    for (auto& st : r->io.streams) st.drain();
    unmount_tree(app_rootfs(name));
    const size_t idx = static_cast<size_t>(r - apps_.data());
    apps_.erase(apps_.begin() + static_cast<long>(idx));
    std::erase_if(cfg_.apps, [&](const App& a) { return a.name == name; });
    return {{"removed", name}};
  }

  PodConfig cfg_;
  int pod_dirfd_;
  UniqueFd status_dir_, times_dir_, logs_dir_, log_times_dir_;
  PodCgroups cgroups_;
  UniqueFd control_;  // POD_INIT_CONTROL: kill, stats, app operations (control.hpp)
  std::optional<Console> console_;  // before apps_: the apps' streams write to it
  std::vector<Running> apps_;
  std::optional<ReadyWatch> ready_watch_;  // appready/: the apps' READY=1
  bool stopping_ = false;
  bool ready_ = false;
};

}  // namespace

int pod_exit_status(const std::vector<int>& exit_codes) {
  for (int c : exit_codes)
    if (c != 0) return c;
  return 0;
}

int run_pod(const PodConfig& cfg, int pod_dirfd) { return Supervisor(cfg, pod_dirfd).run(); }

}  // namespace pod::init
