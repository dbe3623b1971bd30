// systemd integration: service readiness (sd_notify), machined registration
// and journal output. Everything here degrades to a no-op without systemd:
// pod is daemonless and must run the same on hosts where systemd is not PID 1,
// so none of these functions throws because systemd is absent.
#pragma once
#include <sys/types.h>

#include <string>
#include <vector>

#include "util/fd.hpp"

namespace pod::sd {

// sd_booted(): systemd is PID 1 (machined and journald can be expected).
bool booted();

// The service unit this process runs in ("pod@web.service"): the last component of its cgroup in systemd's
// hierarchy (/proc/self/cgroup, the cgroup2 "0::" line or v1's name=systemd one) when it ends in ".service".
// "" when systemd is not PID 1 or the process is in no service (a login session's scope, a shell's).
std::string own_service_unit();

// Is $NOTIFY_SOCKET set (we run as a Type=notify service's main process)?
bool notify_socket_set();

// Send `state` (newline-separated KEY=VALUE) to $NOTIFY_SOCKET, on behalf of
// `as_pid` (0 = this process; another pid needs privileges, see
// sd_pid_notify(3)). Returns true when it was sent, false without
// NOTIFY_SOCKET or when the manager is gone (never throws).
bool notify(const std::string& state, pid_t as_pid = 0);

// READY=1, plus STATUS=<status> when given: `--notify-ready=started`.
bool notify_ready(const std::string& status = "", pid_t as_pid = 0);

// Keep only the notify lines a pod's app may pass to the service manager:
// READY=1, STATUS=, STOPPING=1, RELOADING=1, ERRNO=. Everything else (MAINPID=
// above all, FDSTORE=, WATCHDOG=, BARRIER=) would let the app act on the
// unit of `pod run` itself, so it is dropped. Returns the kept lines joined
// by '\n' ("" when nothing is left).
std::string filter_app_notify(const std::string& message);

// What NotifyRelay::pump() saw.
struct RelayEvents {
  bool ready = false;                   // a READY=1 arrived (and was forwarded)
  std::vector<std::string> forwarded;   // filtered messages sent on
  std::vector<std::string> dropped;     // lines filter_app_notify() removed
};

// A private AF_UNIX datagram socket that stands in for $NOTIFY_SOCKET inside
// the pod (the stage1 hands its path to the app as NOTIFY_SOCKET, normally
// $P/stage1-state/notify) and relays what the app says to the real
// $NOTIFY_SOCKET of `pod run`. Datagrams carry SCM_CREDENTIALS when the
// sender's libsystemd adds them; those are received and ignored. Works (and
// still reports READY=1) when pod itself has no NOTIFY_SOCKET: then nothing
// is forwarded.
class NotifyRelay {
 public:
  // Bind `name` beneath the directory `dirfd` (a stale socket file of that
  // name is replaced). The bind goes through /proc/self/fd so long data dir
  // paths do not hit the 108-byte sun_path limit; `path()` is the socket's
  // real absolute path for the app's NOTIFY_SOCKET.
  static NotifyRelay open(int dirfd, const std::string& name = "notify");
  // Forward on behalf of this pid (0 = ourselves). `pod run` execs stage1,
  // so a relay running in a helper process passes the stage1's pid, which
  // is the unit's main pid.
  void set_forward_pid(pid_t pid) { forward_pid_ = pid; }

  const std::string& path() const { return path_; }
  int fd() const { return fd_.get(); }

  // Read every queued datagram, waiting up to timeout_ms (-1 = forever,
  // 0 = don't wait) for the first one, and forward what filter_app_notify()
  // keeps.
  RelayEvents pump(int timeout_ms);
  // The same without forwarding: the kept part of each datagram (never ""),
  // dropped lines appended to `dropped` when given. For a caller that decides
  // itself what to forward (PodNotifier).
  std::vector<std::string> receive(int timeout_ms, std::vector<std::string>* dropped = nullptr);

  // Remove the socket file (done by the destructor too, when still bound).
  void close();
  NotifyRelay(NotifyRelay&&) noexcept = default;
  NotifyRelay& operator=(NotifyRelay&&) noexcept = default;
  ~NotifyRelay();

 private:
  NotifyRelay() = default;
  UniqueFd fd_;
  UniqueFd dir_;
  std::string name_, path_;
  pid_t forward_pid_ = 0;
};

// What a pod tells the service manager, by runtime.json `notifyReady`:
//   "started": READY=1 (with STATUS=pod started) once the pod init reports
//              that every app has been started;
//   "app":     the apps' own messages (filter_app_notify) as they come, but
//              READY=1 only once every app in `apps` has sent it;
//   anything else ("none"): nothing.
// Both stage1 flavours feed it: the nspawn run entrypoint from its sockets,
// the kvm one from what the guest relays over virtio-serial.
class PodNotifier {
 public:
  PodNotifier(std::string mode, std::vector<std::string> apps, pid_t as_pid = 0);
  // A message from the pod init; READY=1 in it means every app has been
  // started. Returns whether it said so.
  bool init_message(const std::string& raw);
  // A datagram from the relay socket of app `app` (raw: filtered here).
  void app_message(const std::string& app, const std::string& raw);
  bool ready_sent() const { return ready_sent_; }
  // The apps that have not said READY=1 yet (mode "app").
  const std::vector<std::string>& waiting_for() const { return waiting_; }

 private:
  void send(const std::string& lines);
  std::string mode_;
  std::vector<std::string> waiting_;
  pid_t as_pid_;
  bool ready_sent_ = false;
};

}  // namespace pod::sd
