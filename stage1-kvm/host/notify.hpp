// sd_notify from inside the VM. The guest's PID 1 (guest/boot.cpp) binds the
// pod init's and the apps' notify sockets in the guest and relays every
// datagram as a kNotify frame ("<app>\n<message>", app "" = the pod init)
// over the virtio-serial port pod.notify. qemu connects that port to a unix
// socket this side listens on before qemu starts, so nothing the guest sends
// early is lost. What arrives goes to sd::PodNotifier, exactly as the nspawn
// flavour feeds it from its own sockets.
//
// The same port carries the pod init's stdout and stderr (kStdout/kStderr
// frames, guest/relay.hpp InitOutput) once relay_output() was called: they
// go to our own stdout and stderr through OutputSinks, so that a `pod run`
// whose output nobody reads never stops this loop (and so the guest).
#pragma once
#include <poll.h>

#include <optional>
#include <string>
#include <vector>

#include "../common/frame.hpp"
#include "hostutil.hpp"
#include "systemd/sd.hpp"
#include "util/output.hpp"

namespace podkvm {

class GuestNotify {
 public:
  // Listen on `socket_path` (relative to the cwd, the pod dir).
  GuestNotify(const std::string& socket_path, pod::sd::PodNotifier notifier);
  // Copy the guest's kStdout/kStderr frames to our stdout/stderr.
  void relay_output();
  // The fds to poll: the listening socket, then the connection (POLLIN),
  // then our stdout/stderr while backlogged (POLLOUT).
  void add_pollfds(std::vector<pollfd>& p) const;
  // After poll: accept qemu's connection, read and hand on frames.
  void handle(const std::vector<pollfd>& p);
  // After the VMM exited: the frames still in the socket, then the output
  // backlog (giving up on a reader that takes nothing for `stall_ms`).
  void finish(int stall_ms);
  // Has the pod init said that every app has been started?
  bool apps_started() const { return apps_started_; }

 private:
  void on_frame(const Frame& f);
  VmmSocket sock_;
  std::optional<pod::OutputSink> out_, err_;
  pod::sd::PodNotifier notifier_;
  bool apps_started_ = false;
};

}  // namespace podkvm
