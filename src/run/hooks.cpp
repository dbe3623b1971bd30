#include "run/hooks.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>

#include "contract/manifest.hpp"
#include "contract/poddir.hpp"
#include "pods/pod.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"
#include "util/lock.hpp"
#include "util/process.hpp"

namespace pod::run {

namespace {

using nlohmann::json;

constexpr size_t kMaxOutput = 64 * 1024;
const char* const kPoints[] = {"prestart", "poststart", "poststop"};

struct Hooks {
  std::chrono::milliseconds timeout{30000};
  std::vector<HookSpec> list;
  bool has(const std::string& when) const {
    for (const auto& h : list)
      if (h.when == when) return true;
    return false;
  }
};

Hooks read_hooks(int pod_fd) {
  Hooks h;
  auto text = try_read_file_at(pod_fd, poddir::kHooks, 1 << 20);
  if (!text) return h;
  json j = json::parse(*text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) throw Error(std::string(poddir::kHooks) + ": not a JSON object");
  h.timeout = std::chrono::milliseconds(j.value("timeoutMs", 30000));
  for (const auto& e : j.value("hooks", json::array())) h.list.push_back({e.value("when", ""), e.value("command", "")});
  return h;
}

json oci_state(int pod_fd, const std::string& uuid, const char* status) {
  json ann = json::object();
  if (auto m = try_read_file_at(pod_fd, poddir::kManifest, 16 << 20))
    for (const auto& a : contract::parse_pod_manifest(*m).annotations) ann[a.name] = a.value;
  json s = {{"ociVersion", "1.0.2"}, {"id", uuid}, {"status", status}, {"bundle", fd_path(pod_fd)},
            {"annotations", ann}};
  if (auto p = try_read_file_at(pod_fd, poddir::kPid, 64)) {
    try {
      s["pid"] = std::stoi(*p);
    } catch (const std::exception&) {
      // no pid yet (prestart) or a torn file: the key is left out
    }
  }
  return s;
}

struct Outcome {
  int exit_code = 0;
  bool timed_out = false;
  std::string output;  // stdout + stderr, at most kMaxOutput
};

// /bin/sh -c CMD with `input` on stdin, in a process group of its own that is
// killed at the timeout.
Outcome run_one(int pod_fd, const HookSpec& h, const std::string& input, std::chrono::milliseconds timeout) {
  int in[2], out[2];
  if (::pipe2(in, O_CLOEXEC) < 0 || ::pipe2(out, O_CLOEXEC) < 0) throw_sys("pipe");
  UniqueFd in_r(in[0]), in_w(in[1]), out_r(out[0]), out_w(out[1]);
  ChildOptions o;
  o.cwd = fd_path(pod_fd);
  o.in = Redirect::to_fd(in_r.get());
  o.out = o.err = Redirect::to_fd(out_w.get());
  o.new_process_group = true;
  Child c = Child::start({"/bin/sh", "-c", h.command}, o);
  in_r.reset();
  out_w.reset();
  ::signal(SIGPIPE, SIG_IGN);
  (void)!::write(in_w.get(), input.data(), input.size());  // a hook that does not read it: fine
  in_w.reset();
  Outcome r;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  char buf[4096];
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      r.timed_out = true;
      ::kill(-c.pid(), SIGKILL);
      break;
    }
    pollfd p{out_r.get(), POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
    ssize_t n = ::read(out_r.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    if (r.output.size() < kMaxOutput) r.output.append(buf, static_cast<size_t>(std::min<ssize_t>(n, kMaxOutput - r.output.size())));
  }
  r.exit_code = c.wait();
  return r;
}

void record(int pod_fd, const std::string& when, const std::vector<Outcome>& rs) {
  json all = json::array();
  for (const auto& r : rs) all.push_back({{"exitCode", r.exit_code}, {"timedOut", r.timed_out}, {"output", r.output}});
  mkdirs_at(pod_fd, poddir::kHookResultsDir);
  write_file_atomic_at(pod_fd, std::string(poddir::kHookResultsDir) + "/" + when, all.dump() + "\n", 0644,
                       Durability::kVolatile);
}

// Every hook of `when`; the first failure ends the run of that point.
std::vector<Outcome> run_point(int pod_fd, const std::string& uuid, const Hooks& hooks, const std::string& when,
                               const char* status) {
  std::vector<Outcome> rs;
  const std::string state = oci_state(pod_fd, uuid, status).dump();
  for (const auto& h : hooks.list) {
    if (h.when != when) continue;
    rs.push_back(run_one(pod_fd, h, state, hooks.timeout));
    if (rs.back().exit_code != 0 || rs.back().timed_out) break;
  }
  record(pod_fd, when, rs);
  return rs;
}

bool failed(const std::vector<Outcome>& rs) { return !rs.empty() && (rs.back().exit_code != 0 || rs.back().timed_out); }

void sleep_ms(long ms) {
  struct timespec ts {ms / 1000, (ms % 1000) * 1000000};
  ::nanosleep(&ts, nullptr);
}

// The watcher: its own description of the pod dir (never the locked one).
[[noreturn]] void watch(const std::string& uuid, const Hooks& hooks, UniqueFd dir) {
  const int fd = dir.get();
  bool started = false, poststart_done = !hooks.has("poststart");
  for (;;) {
    const bool held = exclusive_lock_held(fd);
    started = started || exists_at(fd, poddir::kPid);
    if (!poststart_done && held && exists_at(fd, poddir::kReady)) {
      run_point(fd, uuid, hooks, "poststart", "running");
      poststart_done = true;
    }
    if (!held) break;
    sleep_ms(100);
  }
  // The stage1 is gone (or never came: nothing to say then). Under the lock, if gc or rm did not get it first.
  if (started && hooks.has("poststop") && try_lock_exclusive_past_probers(fd, "pod " + uuid))
    run_point(fd, uuid, hooks, "poststop", "stopped");
  ::_exit(0);
}

}  // namespace

std::string hooks_json(const PodSpec& spec) {
  if (spec.hooks.empty()) return "";
  json list = json::array();
  for (const auto& h : spec.hooks) list.push_back({{"when", h.when}, {"command", h.command}});
  return json{{"timeoutMs", spec.hook_timeout.count()}, {"hooks", list}}.dump() + "\n";
}

HookSpec parse_hook_flag(const std::string& flag) {
  const size_t eq = flag.find('=');
  HookSpec h;
  if (eq != std::string::npos) h = {flag.substr(0, eq), flag.substr(eq + 1)};
  bool known = false;
  for (const char* p : kPoints) known = known || h.when == p;
  if (!known || h.command.empty())
    throw usage_error("--hook " + flag + ": expected prestart=CMD, poststart=CMD or poststop=CMD");
  return h;
}

void run_prestart_and_watch(const Pod& pod) {
  const Hooks hooks = read_hooks(pod.fd());
  if (hooks.list.empty()) return;
  auto rs = run_point(pod.fd(), pod.uuid(), hooks, "prestart", "creating");
  if (failed(rs)) {
    const Outcome& r = rs.back();
    std::string out = r.output;
    while (!out.empty() && out.back() == '\n') out.pop_back();
    throw Error("prestart hook " + std::string(r.timed_out ? "timed out after " + std::to_string(hooks.timeout.count()) + " ms"
                                                          : "exited with status " + std::to_string(r.exit_code)) +
                    (out.empty() ? "" : ": " + out),
                0, ErrorKind::Stage1);
  }
  if (!hooks.has("poststart") && !hooks.has("poststop")) return;
  UniqueFd dir(::openat(pod.fd(), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dir) throw_sys("cannot open the pod dir for its hooks");
  // Double fork: the watcher is nobody's child to wait for, in a session of its own, with no stdio of ours.
  ChildOptions o;
  o.in = o.out = o.err = Redirect::null();
  o.setsid = true;
  o.on_destroy = ChildOptions::OnDestroy::kDetach;
  const std::string uuid = pod.uuid();
  Child::start_function(
      [&]() -> int {
        ::close(pod.fd());  // our copy of the locked description: the pod's lock stays the stage1's alone
        ChildOptions w;
        w.on_destroy = ChildOptions::OnDestroy::kDetach;
        Child::start_function([&]() -> int { watch(uuid, hooks, std::move(dir)); }, w);
        return 0;
      },
      o)
      .wait();
}

}  // namespace pod::run
