#include "supervise.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <optional>

#include "common.hpp"
#include "contract/appready.hpp"
#include "contract/poddir.hpp"
#include "net/cni/podnet.hpp"
#include "systemd/journal.hpp"
#include "systemd/sd.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"
#include "util/idmap.hpp"

namespace pod::stage1 {

namespace {

UniqueFd notify_socket(int pod_dirfd, const std::string& pod_path) {
  ::unlinkat(pod_dirfd, kNotifySocket, 0);
  int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) throw_sys("socket");
  UniqueFd s(fd);
  struct sockaddr_un sa {};
  sa.sun_family = AF_UNIX;
  std::string path = pod_path + "/" + kNotifySocket;
  if (path.size() >= sizeof sa.sun_path) throw Error("pod dir path too long for a socket: " + path);
  std::strcpy(sa.sun_path, path.c_str());
  if (::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) < 0) throw_sys("cannot bind " + path);
  int on = 1;
  if (::setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &on, sizeof on) < 0) throw_sys("SO_PASSCRED");
  return s;
}

// One datagram from the init: its text and its pid as seen from here.
std::optional<std::pair<std::string, pid_t>> receive(int fd) {
  char buf[512];
  char control[CMSG_SPACE(sizeof(struct ucred))];
  struct iovec iov {buf, sizeof buf - 1};
  struct msghdr mh {};
  mh.msg_iov = &iov;
  mh.msg_iovlen = 1;
  mh.msg_control = control;
  mh.msg_controllen = sizeof control;
  ssize_t n = ::recvmsg(fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
  if (n < 0) return std::nullopt;
  pid_t pid = 0;
  for (cmsghdr* c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS) {
      struct ucred cred;
      std::memcpy(&cred, CMSG_DATA(c), sizeof cred);
      pid = cred.pid;
    }
  return std::make_pair(std::string(buf, static_cast<size_t>(n)), pid);
}

int64_t realtime_ns() {
  struct timespec ts {};
  ::clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

// appready/<app> (contract/appready.hpp): what the app said on its relay
// socket, for the pod init (--after NAME:ready) and `pod status`.
void record_readiness(int ready_dirfd, const std::string& app, contract::AppReadiness& r, const std::string& msg) {
  if (contract::apply_notify(r, msg, realtime_ns()))
    write_file_atomic_at(ready_dirfd, app, contract::format_app_readiness(r), 0644, Durability::kVolatile);
}

RunContext load_context(int argc, char** argv) {
  Args args = parse_args(argc, argv, {"--debug", "--interactive"});
  if (args.positional.size() != 1) throw usage_error("usage: run [--debug] [--interactive] <uuid>");
  RunContext o;
  o.uuid = args.positional[0];
  o.debug = args.has("--debug");
  const char* lock = ::getenv("POD_LOCK_FD");
  if (!lock) throw usage_error("POD_LOCK_FD is not set");
  o.lock_fd = std::atoi(lock);
  // We keep the lock for the life of the pod; of what we start only the
  // launcher's payload inherits it.
  if (::fcntl(o.lock_fd, F_SETFD, FD_CLOEXEC) < 0) throw_sys("POD_LOCK_FD " + std::string(lock));
  const int pod = o.lock_fd;  // the locked fd is the pod dir itself
  o.pod_path = fd_path(pod);
  o.runtime = contract::parse_runtime(try_read_file_at(pod, poddir::kRuntime).value_or(""));
  o.manifest = contract::parse_pod_manifest(read_file_at(pod, poddir::kManifest));
  if (!o.runtime.stage1_options.empty())
    throw Error("this stage1 takes no options, but runtime.json gives " + o.runtime.stage1_options.begin()->first);
  o.interactive = args.has("--interactive") || o.runtime.interactive;
  o.debug = o.debug || o.runtime.debug;
  return o;
}

// The pod's networks for the life of the run entrypoint: joined on
// construction (a failure leaves what was joined again), left by teardown().
class PodNetworks {
 public:
  PodNetworks(const cni::Place& place, const contract::Runtime& rt, bool host_dns) : place_(place), rt_(rt) {
    if (rt.networks.empty()) return;
    try {
      cni::create_netns(place);
      const cni::NetState st = cni::attach(place, rt.networks);
      const std::string resolv = cni::resolv_conf_from(st);
      if (rt.dns.empty() && !resolv.empty())
        write_file_at(place.pod_dirfd, kResolvConf, resolv, 0644, Durability::kVolatile);
      else if (rt.dns.empty() && !host_dns)  // the networks give no DNS: the host's, unless the image has one
        if (auto rc = try_read_file_at(AT_FDCWD, "/etc/resolv.conf", 65536))
          write_file_at(place.pod_dirfd, kResolvConf, *rc, 0644, Durability::kVolatile);
    } catch (const Error&) {
      teardown();
      throw;
    }
  }
  void teardown() {
    if (rt_.networks.empty()) return;
    try {
      cni::teardown(place_, rt_.networks);
    } catch (const Error& e) {
      std::cerr << "run: " << e.what() << " (pod gc will retry)\n";
    }
  }

 private:
  cni::Place place_;
  const contract::Runtime& rt_;
};

int supervise(RunContext& o, const char* payload_name, const Launcher& launch) {
  const int pod = o.lock_fd;
  for (const char* d : {poddir::kStateDir, poddir::kAppStatusDir, poddir::kLogsDir}) mkdirs_at(pod, d);
  for (const char* f : {poddir::kPid, poddir::kExitStatus, kForceStopped, poddir::kReady}) ::unlinkat(pod, f, 0);
  ::unlinkat(pod, kResolvConf, 0);
  const bool host_dns = o.runtime.dns.size() == 1 && o.runtime.dns[0] == "host";
  if (o.runtime.net == "host" || host_dns)
    if (auto rc = try_read_file_at(AT_FDCWD, "/etc/resolv.conf", 65536)) write_file_at(pod, kResolvConf, *rc, 0644, Durability::kVolatile);
  UniqueFd sock = notify_socket(pod, o.pod_path);
  // In "app" mode every app that may notify gets a relay socket of its own
  // (bound into its rootfs by the init): we know who said READY=1.
  const contract::NotifyPlan plan = contract::notify_plan(o.runtime, o.manifest);
  ::unlinkat(pod, kAppNotifyDir, AT_REMOVEDIR);  // empty after a clean run; a stale one is refilled below
  std::vector<sd::NotifyRelay> relays;
  UniqueFd ready_dir = fresh_app_ready_dir(pod);
  std::vector<contract::AppReadiness> readiness(plan.apps.size());
  if (!plan.apps.empty()) {
    UniqueFd dir = mkdirs_at(pod, kAppNotifyDir, 0755);
    for (const auto& app : plan.apps) relays.push_back(sd::NotifyRelay::open(dir.get(), app));
  }
  // A --private-users pod whose pod dir is chowned, not idmapped (Documentation/isolation.md): its root
  // sends to these sockets, so they are its root's like the rest of the pod dir.
  if (const auto& pu = o.runtime.private_users; pu.chown_pod_dir)
    shift_tree_owners(o.pod_path + "/" + poddir::kStateDir, {pu.base, pu.count});
  sd::PodNotifier notifier(plan.mode, plan.apps);
  auto journal = sd::JournalForwarder::open(pod, o.uuid, o.manifest.app_names());  // only where journald runs
  // Our stdout/stderr are the journal (a unit's): it gets every line from the forwarder already.
  o.copy_output = !(journal && sd::stdio_is_journal());

  sigset_t blocked;
  sigemptyset(&blocked);
  for (int s : {SIGCHLD, SIGTERM, SIGINT, SIGHUP}) sigaddset(&blocked, s);
  ::sigprocmask(SIG_BLOCK, &blocked, nullptr);
  int sfd = ::signalfd(-1, &blocked, SFD_CLOEXEC | SFD_NONBLOCK);
  if (sfd < 0) throw_sys("signalfd");
  UniqueFd sigfd(sfd);

  // The pod's CNI networks (src/net/cni/podnet.hpp): joined before the
  // payload starts, left when it has exited (gc does it when we are killed).
  PodNetworks networks({pod, o.pod_path, o.uuid, cni::host_mntns_fd_from_env()}, o.runtime, host_dns);
  Child payload = launch(o);

  pid_t init_pid = 0;
  int pending_stop = 0;  // a signal that arrived before the init's pid
  for (;;) {
    std::vector<struct pollfd> p = {{sigfd.get(), POLLIN, 0}, {sock.get(), POLLIN, 0}};
    for (const auto& r : relays) p.push_back({r.fd(), POLLIN, 0});
    if (journal) p.push_back({journal->fd(), POLLIN, 0});
    if (::poll(p.data(), p.size(), -1) < 0 && errno != EINTR) throw_sys("poll");
    if (journal && (p.back().revents & POLLIN)) journal->pump();
    for (size_t i = 0; i < relays.size(); ++i)
      if (p[2 + i].revents & POLLIN)
        for (const auto& msg : relays[i].receive(0)) {
          record_readiness(ready_dir.get(), plan.apps[i], readiness[i], msg);
          notifier.app_message(plan.apps[i], msg);
        }
    while (auto msg = receive(sock.get())) {
      if (msg->first.rfind("STATUS=starting", 0) == 0 && msg->second > 0 && !init_pid) {
        init_pid = msg->second;
        write_file_atomic_at(pod, poddir::kPid, std::to_string(init_pid) + "\n", 0644, Durability::kVolatile);
        if (pending_stop) ::kill(init_pid, pending_stop);
      } else {
        notifier.init_message(msg->first);
      }
    }
    struct signalfd_siginfo si;
    bool exited = false;
    while (::read(sigfd.get(), &si, sizeof si) == sizeof si) {
      int sig = static_cast<int>(si.ssi_signo);
      if (sig == SIGCHLD) {
        if (payload.try_wait()) exited = true;
      } else if (init_pid) {
        ::kill(init_pid, SIGTERM);
      } else {
        pending_stop = SIGTERM;
      }
    }
    if (exited) break;
  }
  networks.teardown();
  ::unlinkat(pod, kNotifySocket, 0);
  if (journal) journal->finish();
  relays.clear();  // removes their sockets
  ::unlinkat(pod, kAppNotifyDir, AT_REMOVEDIR);

  if (auto rec = try_read_file_at(pod, poddir::kExitStatus, 64)) return std::atoi(rec->c_str());
  // No record from the init: it never ran to its end.
  std::string why;
  int code = kExitFailure;
  if (exists_at(pod, kForceStopped)) {
    why = "pod was killed by stop --force";
    code = 128 + SIGKILL;
  } else {
    why = std::string(payload_name) + " " + describe_status(*payload.status()) + " before the pod init recorded an exit status";
  }
  if (!exists_at(pod, poddir::kFailure)) write_file_atomic_at(pod, poddir::kFailure, why + "\n", 0644, Durability::kVolatile);
  std::cerr << "run: " << why << "\n";
  return code;
}

}  // namespace

std::vector<std::string> init_environment(const RunContext& o) {
  std::vector<std::string> env = {std::string("POD_INIT_NOTIFY=/pod/") + kNotifySocket,
                                  std::string("POD_APP_NOTIFY_DIR=/pod/") + kAppNotifyDir,
                                  std::string("POD_INIT_CONTROL=/pod/") + kControlSocket,
                                  std::string("POD_APP_READY_DIR=/pod/") + poddir::kAppReadyDir};
  if (!o.copy_output) env.emplace_back("POD_INIT_COPY_OUTPUT=0");
  return env;
}

int run_entrypoint(int argc, char** argv, const char* payload_name, const Launcher& launch) {
  try {
    RunContext o = load_context(argc, argv);
    return supervise(o, payload_name, launch);
  } catch (const std::exception& e) {
    // A failure of our own: record it for `pod status` (cwd is $P).
    std::cerr << "run: " << e.what() << "\n";
    try {
      write_file_atomic_at(AT_FDCWD, poddir::kFailure, std::string(e.what()) + "\n", 0644, Durability::kVolatile);
    } catch (const std::exception&) {
    }
    return kExitFailure;
  }
}

}  // namespace pod::stage1
