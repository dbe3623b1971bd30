// stage1 nspawn flavour: the run entrypoint (Documentation/stage1-abi.md).
//
//   run [--debug] [--interactive] <uuid>     cwd = $P, env POD_LOCK_FD=<locked $P>
//
// Forks systemd-nspawn (tuned: Documentation/stage1-nspawn.md) with the pod
// init as the container's PID 1 and waits for it while holding the pod lock.
// The init reports its pid (as a datagram with credentials on
// stage1-state/notify: the kernel translates it to our pid namespace), which
// becomes $P/pid. SIGTERM/SIGINT/SIGHUP are forwarded to the init. The exit
// status is the pod's, as the init recorded it; without that record
// something below the apps failed: $P/failure is written and we exit 125.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <linux/magic.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <nlohmann/json.hpp>

#include "common.hpp"
#include "contract/manifest.hpp"
#include "contract/poddir.hpp"
#include "contract/runtime.hpp"
#include "stage1abi/stage1.hpp"
#include "systemd/journal.hpp"
#include "systemd/sd.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"
#include "util/process.hpp"

using namespace pod;
using namespace pod::stage1;

extern char** environ;

namespace {

struct Options {
  bool debug = false;
  bool interactive = false;
  std::string uuid;
  int lock_fd = -1;
  std::string pod_path;
  contract::Runtime runtime;
  contract::PodManifest manifest;
  bool copy_output = true;  // the init copies the apps' output to its stdout/stderr
};

bool any_tty() { return ::isatty(STDIN_FILENO) || ::isatty(STDOUT_FILENO) || ::isatty(STDERR_FILENO); }

std::string find_nspawn() {
  if (const char* p = ::getenv("POD_NSPAWN")) return p;  // tests and odd installs
  for (const char* p : {"/usr/bin/systemd-nspawn", "/bin/systemd-nspawn", "/usr/local/bin/systemd-nspawn"})
    if (::access(p, X_OK) == 0) return p;
  throw Error("systemd-nspawn not found (install systemd-container)");
}

// The systemd-nspawn command line; see Documentation/stage1-nspawn.md for why
// each option is there.
std::vector<std::string> nspawn_argv(const Options& o) {
  std::vector<std::string> a = {find_nspawn()};
  if (!o.debug) a.push_back("-q");
  if (sd_booted() > 0) {
    a.push_back("--register=yes");
  } else {
    a.push_back("--register=no");
    a.push_back("--keep-unit");
  }
  // Never hand the host tty to the pod (passive). Not interactive, that is
  // for a stdout that is a terminal: otherwise the init's stdout and stderr
  // are ours as they are, for its copy of the apps' stdout and stderr
  // (passive would merge both into stdout through its pty).
  const bool passive = o.interactive ? any_tty() : ::isatty(STDOUT_FILENO);
  if (o.interactive && ::isatty(STDIN_FILENO)) a.push_back("--console=interactive");
  else a.push_back(passive ? "--console=passive" : "--console=pipe");
  for (const char* f : {"--resolv-conf=off", "--timezone=off", "--link-journal=no", "--settings=no"}) a.push_back(f);
  a.push_back("--machine=pod-" + o.uuid);
  a.push_back("--directory=" + o.pod_path + "/stage1/rootfs");
  a.push_back("--bind=" + o.pod_path + ":" + poddir::kPodInRoot);
  // Host volumes appear at /host-volumes/<name>, where the pod init binds
  // them into the apps; recursive=false binds without submounts.
  for (const auto& v : o.manifest.volumes) {
    if (v.kind != contract::VolumeKind::Host) continue;
    struct stat st;
    if (::stat(v.source.c_str(), &st) < 0) throw_sys("volume " + v.name + ": source " + v.source);
    if (v.source.find(':') != std::string::npos)
      throw Error("volume " + v.name + ": source paths with ':' are not supported by systemd-nspawn");
    a.push_back((v.read_only ? "--bind-ro=" : "--bind=") + v.source + ":" + poddir::kHostVolumesInRoot + "/" + v.name +
                (v.recursive ? ":rbind" : ":norbind"));
  }
  if (o.runtime.net == "none") a.push_back("--private-network");
  else if (o.runtime.net != "host")
    throw Error("this stage1 supports --net=host and --net=none, not \"" + o.runtime.net + "\"");
  a.push_back(std::string("--setenv=POD_INIT_NOTIFY=/pod/") + kNotifySocket);
  a.push_back(std::string("--setenv=POD_APP_NOTIFY_DIR=/pod/") + kAppNotifyDir);
  a.push_back(std::string("--setenv=POD_INIT_CONTROL=/pod/") + kControlSocket);
  if (!o.copy_output) a.push_back("--setenv=POD_INIT_COPY_OUTPUT=0");
  a.push_back("--");
  a.push_back("/init");
  if (o.debug) a.push_back("--debug");
  return a;
}

std::vector<std::string> nspawn_env() {
  std::vector<std::string> env;
  for (char** e = environ; *e; ++e) {
    std::string s = *e;
    // The lock stays with us; NOTIFY_SOCKET is ours to answer, not nspawn's.
    if (s.rfind("POD_LOCK_FD=", 0) == 0 || s.rfind("NOTIFY_SOCKET=", 0) == 0 || s.rfind("SYSTEMD_", 0) == 0) continue;
    env.push_back(s);
  }
  // Seccomp is installed by the pod init from a precompiled filter (never run
  // SYSTEMD_SECCOMP=0 without it); cgroup2 only; no image lock (own rootfs).
  for (const char* e : {"SYSTEMD_SECCOMP=0", "SYSTEMD_NSPAWN_UNIFIED_HIERARCHY=1", "SYSTEMD_NSPAWN_LOCK=0"})
    env.emplace_back(e);
  return env;
}

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

// nspawn keeps a propagation dir under /run/systemd/nspawn and, when /run is
// not a tmpfs (as on these hosts), complains at every exit ("Attempted to
// remove disk file system …"). In the pod's own mount namespace (made by
// stage0; never in the host's) give that dir a small tmpfs of its own.
void private_nspawn_run_dir() {
  const char* priv = std::getenv("POD_PRIVATE_MOUNT_NS");
  if (!priv || std::string(priv) != "1") return;
  const char* dir = "/run/systemd/nspawn";
  ::mkdir("/run/systemd", 0755);
  ::mkdir(dir, 0755);
  struct statfs sf;
  if (::statfs(dir, &sf) == 0 && sf.f_type == TMPFS_MAGIC) return;
  if (::mount("tmpfs", dir, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=0755,size=1m") < 0)
    std::cerr << "run: warning: cannot mount a tmpfs on " << dir << ": " << std::strerror(errno) << "\n";
}

// systemd-nspawn as our child: it joins the pod's cgroups first. A failure
// there or of the exec comes back as an Error from Child::start, which main()
// records in `failure`.
Child start_nspawn(const Options& o, const std::vector<std::string>& argv, std::vector<std::string> env) {
  ChildOptions c;
  c.env = std::move(env);
  if (!o.interactive) c.in = Redirect::null();  // stdin is the pod's only in interactive mode
  // nspawn holds the pod lock too (it keeps inherited fds for itself, not for
  // the payload): if this supervisor is killed -9, the pod stays "running"
  // for as long as nspawn and so the apps live, instead of looking exited.
  // For the same reason a failure of ours leaves nspawn running (detach)
  // rather than SIGKILLing it under the pod.
  c.keep_fds = {o.lock_fd};
  c.on_destroy = ChildOptions::OnDestroy::kDetach;
  c.pre_exec = [&] {
    if (sd_booted() <= 0) join_pod_cgroups(o.uuid);
    private_nspawn_run_dir();
    if (o.debug) {
      std::string line;
      for (const auto& a : argv) line += " " + a;
      std::cerr << "run: exec" << line << "\n";
    }
  };
  return Child::start(argv, c);
}

int run_main(int argc, char** argv) {
  Args args = parse_args(argc, argv, {"--debug", "--interactive"});
  if (args.positional.size() != 1) throw usage_error("usage: run [--debug] [--interactive] <uuid>");
  Options o;
  o.uuid = args.positional[0];
  o.debug = args.has("--debug");
  const char* lock = ::getenv("POD_LOCK_FD");
  if (!lock) throw usage_error("POD_LOCK_FD is not set");
  o.lock_fd = std::atoi(lock);
  // We keep the lock for the life of the pod; of what we start only nspawn
  // inherits it (see start_nspawn).
  if (::fcntl(o.lock_fd, F_SETFD, FD_CLOEXEC) < 0) throw_sys("POD_LOCK_FD " + std::string(lock));
  const int pod = o.lock_fd;  // the locked fd is the pod dir itself
  o.pod_path = fd_path(pod);
  o.runtime = contract::parse_runtime(try_read_file_at(pod, poddir::kRuntime).value_or(""));
  o.manifest = contract::parse_pod_manifest(read_file_at(pod, poddir::kManifest));
  if (!o.runtime.stage1_options.empty())
    throw Error("this stage1 takes no options, but runtime.json gives " + o.runtime.stage1_options.begin()->first);
  o.interactive = args.has("--interactive") || o.runtime.interactive;
  o.debug = o.debug || o.runtime.debug;

  for (const char* d : {poddir::kStateDir, poddir::kAppStatusDir, poddir::kLogsDir}) mkdirs_at(pod, d);
  for (const char* f : {poddir::kPid, poddir::kExitStatus, kForceStopped, poddir::kReady}) ::unlinkat(pod, f, 0);
  ::unlinkat(pod, kResolvConf, 0);
  if (o.runtime.net == "host")
    if (auto rc = try_read_file_at(AT_FDCWD, "/etc/resolv.conf", 65536)) write_file_at(pod, kResolvConf, *rc, 0644, Durability::kVolatile);
  UniqueFd sock = notify_socket(pod, o.pod_path);
  // In "app" mode every app that may notify gets a relay socket of its own
  // (bound into its rootfs by the init): we know who said READY=1.
  const contract::NotifyPlan plan = contract::notify_plan(o.runtime, o.manifest);
  ::unlinkat(pod, kAppNotifyDir, AT_REMOVEDIR);  // empty after a clean run; a stale one is refilled below
  std::vector<sd::NotifyRelay> relays;
  if (!plan.apps.empty()) {
    UniqueFd dir = mkdirs_at(pod, kAppNotifyDir, 0755);
    for (const auto& app : plan.apps) relays.push_back(sd::NotifyRelay::open(dir.get(), app));
  }
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

  const auto argv_s = nspawn_argv(o);  // checks volume sources: fail here, with a clear failure
  Child nspawn = start_nspawn(o, argv_s, nspawn_env());

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
        for (const auto& msg : relays[i].receive(0)) notifier.app_message(plan.apps[i], msg);
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
        if (nspawn.try_wait()) exited = true;
      } else if (init_pid) {
        ::kill(init_pid, SIGTERM);
      } else {
        pending_stop = SIGTERM;
      }
    }
    if (exited) break;
  }
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
    why = "systemd-nspawn " + describe_status(*nspawn.status()) + " before the pod init recorded an exit status";
  }
  if (!exists_at(pod, poddir::kFailure)) write_file_atomic_at(pod, poddir::kFailure, why + "\n", 0644, Durability::kVolatile);
  std::cerr << "run: " << why << "\n";
  return code;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run_main(argc, argv);
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
