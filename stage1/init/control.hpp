// The pod init's control socket: how the stage1's host side (nspawn: the
// entrypoints on the host; kvm: the guest agent, relaying the ctl port) asks
// the running init to act on its apps — kill, per-app stats, the app list.
//
// One AF_UNIX SOCK_SEQPACKET socket (path: $POD_INIT_CONTROL in the init's
// view). A client connects, sends one JSON request and reads one JSON reply:
//   {"op": "kill", "signal": 15, "app": "web"}   app "" or absent = every running app
//     -> {"apps": {"web": "signalled", "db": "not running"}}
//   {"op": "stats"}
//     -> {"apps": {"web": {"running": true, "pid": 7, "cpuNs": N, "memoryBytes": N, "pids": N}, …}}
// and the app operations of a running pod (supervisor.cpp, stage1-abi.md "app-ops"):
//   {"op": "add", "app": "web"}       the init learns the app from /pod/pod -> {"app": {…state…}}
//   {"op": "start", "app": "web"}     -> {"app": {…}}
//   {"op": "stop", "app": "web", "force": false, "timeout": 10}   SIGTERM (SIGKILL after timeout s) -> {"app": {…}}
//   {"op": "remove", "app": "web"}    not running: unmounted and forgotten -> {"removed": "web"}
//   {"op": "reopen-log", "app": "web"} + a descriptor: the app's CRI log file from now on -> {"app": {…}}
//   {"op": "update", "app": "web", "isolators": [{"name", "value"}…]}   the app's limits from now on -> {"app": {…}}
// add may come with a descriptor too: the app's CRI log file (crilog.hpp; the init then copies its output there).
//   {"op": "apps"}                    -> {"sandbox": bool, "apps": [{"name", "state": "created"|"running"|"exited",
//                                         "pid"?, "exitCode"?, "signal"?, "startedAt"?, "finishedAt"? (ns since the epoch)}]}
// An error is {"error": "message"}. Libc + nlohmann_json only: it is compiled
// into the static init and the kvm guest agent as well.
#pragma once
#include <sys/types.h>

#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "util/fd.hpp"

namespace pod::init {

inline constexpr size_t kMaxControlMessage = 1 << 20;

// Bind and listen (non-blocking) at `path`, replacing a stale socket.
UniqueFd control_listen(const std::string& path);
// One request from a connection just accepted (waits at most `timeout_ms`).
// A descriptor sent with it (SCM_RIGHTS) goes to *passed (closed when passed is null).
std::optional<nlohmann::json> control_receive(int conn, int timeout_ms, UniqueFd* passed = nullptr);
void control_reply(int conn, const nlohmann::json& reply);
// Client: connect to `path` (relative to the cwd, or absolute), send `request`,
// return the reply; throws pod::Error when the init cannot be reached or
// does not answer within `timeout_ms`, or when the reply is an error.
// `pass_fd` (when >= 0) goes with the request (SCM_RIGHTS): add and reopen-log hand over a CRI log file.
nlohmann::json control_request(const std::string& path, const nlohmann::json& request, int timeout_ms = 5000,
                               int pass_fd = -1);

// What the init knows of one app when a request comes in.
struct AppHandle {
  std::string name;
  pid_t pid = 0;                 // its main process, 0 when not started
  bool running = false;
  std::optional<int> exit_code;  // once it has exited
};
// Answer one request (kill, stats) about `apps`; never throws.
nlohmann::json handle_control_request(const nlohmann::json& request, const std::vector<AppHandle>& apps);

// Accept every pending connection on `listener` and answer it with `handle`
// (which must not throw; it may take the descriptor the request came with).
void serve_control(int listener, const std::function<nlohmann::json(const nlohmann::json&, UniqueFd&)>& handle);

// CPU time, resident memory and process count of the process tree rooted at
// `pid`, from /proc (the caller's pid namespace).
struct TreeUsage {
  uint64_t cpu_ns = 0, memory_bytes = 0, pids = 0;
};
TreeUsage tree_usage(pid_t pid);

}  // namespace pod::init
