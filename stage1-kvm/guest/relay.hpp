// sd_notify inside the guest (see host/notify.hpp for the other end). The
// guest's PID 1 binds a datagram socket for the pod init and one per app that
// may notify, beneath the stage1 root the pod init is chrooted into; the pod
// init finds them through POD_INIT_NOTIFY and POD_APP_NOTIFY_DIR (the same
// contract as in the nspawn flavour) and binds the app sockets into the apps'
// roots. Every datagram is passed on as a kNotify frame on the pod.notify port,
// and what an app says is recorded in $P/appready/<app> (contract/appready.hpp)
// here, in the guest: the pod init waits on that dir with inotify, which sees
// the guest's own writes to the virtiofs share but not the host's.
#pragma once
#include <poll.h>

#include <string>
#include <vector>

#include "contract/appready.hpp"
#include "util/fd.hpp"

namespace podkvm {

class GuestRelay {
 public:
  // Paths as the pod init sees them (inside the stage1 root).
  static constexpr const char* kInitSocket = "/run/pod-init-notify";
  static constexpr const char* kAppDir = "/run/pod-notify";
  static constexpr const char* kReadyDir = "/pod/appready";  // POD_APP_READY_DIR

  // Bind the sockets beneath `root` (the stage1 root as PID 1 sees it).
  // Returns false (after logging) when a socket cannot be made.
  bool bind(const std::string& root, const std::vector<std::string>& apps);
  void add_pollfds(std::vector<pollfd>& p) const;
  // Read what arrived and send it on `port` (-1: the port is missing, as
  // under lkvm: dropped).
  void handle(const std::vector<pollfd>& p, int port);
  ~GuestRelay();

 private:
  struct Sock {
    std::string app;  // "" = the pod init
    int fd;
    pod::contract::AppReadiness readiness;
  };
  std::vector<Sock> socks_;
  std::string root_;
};

// The pod init's stdout and stderr when the host asked for them (guest.json
// relayOutput; qemu without --interactive): two pipes that PID 1 reads and
// passes on as kStdout/kStderr frames on the same pod.notify port, so that the
// apps' output reaches `pod run`'s stdout and stderr kept apart (the serial
// console carries the kernel's messages and is a file on the host). While
// the port is missing what arrives goes to the console instead.
class InitOutput {
 public:
  // Throws pod::Error when the pipes cannot be made.
  InitOutput();
  // The write ends, for the pod init's fd 1 and 2; close them once it runs.
  int out_fd() const { return out_w_.get(); }
  int err_fd() const { return err_w_.get(); }
  void close_write_ends();
  void add_pollfds(std::vector<pollfd>& p) const;
  void handle(const std::vector<pollfd>& p, int port);
  // After the pod init has exited: everything left in the pipes.
  void drain(int port);

 private:
  bool copy(pod::UniqueFd& fd, int type, int port);
  pod::UniqueFd out_r_, out_w_, err_r_, err_w_;
};

// Pass a control request from the host (the ctl port `ctl`) to the pod init's
// control socket `init_socket` (as PID 1 sees it) and its reply back: the init
// answers at once (it never blocks on an app). For an "add", the guest's cached
// view of the pod dir is dropped first (relay.cpp).
void relay_control(int ctl, const std::string& request, const std::string& init_socket);

}  // namespace podkvm
