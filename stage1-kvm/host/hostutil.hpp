// Helpers shared by the kvm stage1's host entrypoints (main.cpp: run;
// control.cpp: enter, stop, gc, probe).
#pragma once
#include <poll.h>
#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "contract/poddir.hpp"
#include "util/fd.hpp"
#include "util/process.hpp"

namespace podkvm {

using json = nlohmann::json;

constexpr int kExitFailure = 125;
constexpr const char* kStateDir = pod::poddir::kStateDir;
constexpr const char* kQmpSocket = "qmp.sock";  // in kStateDir: qemu's QMP server (pause, resume)
extern bool g_debug;

struct Paths {
  std::string kernel, initrd, qemu, lkvm, virtiofsd;
  json initrd_info;
};

void debug(const std::string& msg);
int64_t now_ms();
std::string getenv_str(const char* name);
std::string which(const std::string& prog);
std::string exe_dir();
json read_json_at(int dirfd, const std::string& name, bool optional);
std::optional<pid_t> read_pid_at(int dirfd);
bool is_pod_process(pid_t pid, const std::string& uuid);
// Wait until `pid`, a process that is not our child (stop, gc), is gone or a zombie.
bool wait_gone(pid_t pid, int timeout_ms);
pod::UniqueFd connect_unix(const std::string& path);

// A unix socket that qemu connects one of its chardevs to as a client. We
// listen before qemu starts, so nothing the guest sends early is lost; the
// one connection is accepted from the poll loop.
class VmmSocket {
 public:
  explicit VmmSocket(const std::string& path);
  // The listener (until qemu connected), then the connection.
  void add_pollfds(std::vector<pollfd>& p) const;
  // After poll: accepts qemu's connection when it arrives; true when `q`
  // is the connection and has data or was hung up.
  bool readable(const pollfd& q);
  int conn() const { return conn_.get(); }
  bool connected() const { return static_cast<bool>(conn_); }
  void close_conn() { conn_.reset(); }

 private:
  pod::UniqueFd listen_, conn_;
};
void warn(const std::string& msg);
std::string sock_path(const std::string& name);
bool request_stop(const std::string& mode, int wait_ack_ms);
// Start a helper (virtiofsd, the VMM) as our child: stdin /dev/null and
// stdout+stderr appended to `log` unless `stdio`, a process group of its own
// when `own_pgrp`, and SIGKILL when we die (the pod ends with this process,
// which holds the lock: so must they). `pre_exec` as ChildOptions::pre_exec,
// for setup that only the child can do.
pod::Child spawn(const std::vector<std::string>& args, const std::string& log, bool own_pgrp, bool stdio,
                 const std::function<void()>& pre_exec = {});
// In a child about to exec the VMM: a private mount namespace with a tmpfs
// that backs its memory with transparent huge pages at `dir`. False (and
// nothing mounted) when the host does not allow it.
bool mount_private_huge_tmpfs(const std::string& dir);
std::string join(const std::vector<std::string>& v);
Paths find_paths();
bool initrd_has_9p(const json& info);

int cmd_run(const std::vector<std::string>& args);
int cmd_enter(const std::vector<std::string>& args);
int cmd_stop(const std::vector<std::string>& args);
int cmd_gc(const std::vector<std::string>& args);
int cmd_probe();
int cmd_kill(const std::vector<std::string>& args);
int cmd_pause(const std::vector<std::string>& args, bool pause);  // pause, or resume
int cmd_stats(const std::vector<std::string>& args);
int cmd_app_ops(int argc, char** argv);  // argv[1] = the operation (stage1/appops.hpp)

// One control request to the pod init through the guest agent (lifecycle.cpp).
constexpr int kGuestTimeoutMs = 15000;  // the guest runs under TCG here: slow but alive
json control(const json& req, int timeout_ms);
// The run entrypoint's pid (kStateDir/run.pid): its mount namespace, the pod's
// private one, is where virtiofsd serves $P from (app-ops mounts apps' trees there).
constexpr const char* kRunPidFile = "run.pid";

}  // namespace podkvm
