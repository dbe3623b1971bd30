// sd_notify from inside the VM. The guest's PID 1 (guest/boot.cpp) binds the
// pod init's and the apps' notify sockets in the guest and relays every
// datagram as a kNotify frame ("<app>\n<message>", app "" = the pod init)
// over the virtio-serial port pod.notify. qemu connects that port to a unix
// socket this side listens on before qemu starts, so nothing the guest sends
// early is lost. What arrives goes to sd::PodNotifier, exactly as the nspawn
// flavour feeds it from its own sockets.
#pragma once
#include <poll.h>

#include <string>
#include <vector>

#include "hostutil.hpp"
#include "systemd/sd.hpp"

namespace podkvm {

class GuestNotify {
 public:
  // Listen on `socket_path` (relative to the cwd, the pod dir).
  GuestNotify(const std::string& socket_path, pod::sd::PodNotifier notifier);
  // The fds to poll for POLLIN: the listening socket, then the connection.
  void add_pollfds(std::vector<pollfd>& p) const;
  // After poll: accept qemu's connection, read and hand on frames.
  void handle(const std::vector<pollfd>& p);
  // Has the pod init said that every app has been started?
  bool apps_started() const { return apps_started_; }

 private:
  void on_frame(const std::string& payload);
  VmmSocket sock_;
  pod::sd::PodNotifier notifier_;
  bool apps_started_ = false;
};

}  // namespace podkvm
