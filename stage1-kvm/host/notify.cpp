#include "notify.hpp"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>

#include "../common/frame.hpp"
#include "hostutil.hpp"
#include "util/error.hpp"

namespace podkvm {

GuestNotify::GuestNotify(const std::string& socket_path, pod::sd::PodNotifier notifier)
    : notifier_(std::move(notifier)) {
  ::unlink(socket_path.c_str());
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) pod::throw_sys("socket");
  listen_.reset(fd);
  struct sockaddr_un sa {};
  sa.sun_family = AF_UNIX;
  if (socket_path.size() >= sizeof sa.sun_path) throw pod::Error("socket path too long: " + socket_path);
  std::strcpy(sa.sun_path, socket_path.c_str());
  if (::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) < 0 || ::listen(fd, 1) < 0)
    pod::throw_sys("cannot listen on " + socket_path);
}

void GuestNotify::add_pollfds(std::vector<pollfd>& p) const {
  p.push_back({listen_ ? listen_.get() : -1, POLLIN, 0});
  p.push_back({conn_ ? conn_.get() : -1, POLLIN, 0});
}

void GuestNotify::handle(const std::vector<pollfd>& p) {
  for (const auto& q : p) {
    if (q.fd < 0 || !(q.revents & (POLLIN | POLLHUP | POLLERR))) continue;
    if (listen_ && q.fd == listen_.get()) {
      int c = ::accept4(listen_.get(), nullptr, nullptr, SOCK_CLOEXEC);
      if (c >= 0) {
        conn_.reset(c);
        listen_.reset();  // qemu connects once
      }
    } else if (conn_ && q.fd == conn_.get()) {
      Frame f;
      if (!recv_frame(conn_.get(), f)) {
        conn_.reset();  // the VM is going away
        continue;
      }
      if (f.type == kNotify) on_frame(f.data);
    }
  }
}

void GuestNotify::on_frame(const std::string& payload) {
  auto nl = payload.find('\n');
  if (nl == std::string::npos) return;
  std::string app = payload.substr(0, nl), msg = payload.substr(nl + 1);
  debug("notify from " + (app.empty() ? std::string("the pod init") : "app " + app) + ": " + msg);
  if (!app.empty()) {
    notifier_.app_message(app, msg);
  } else if (("\n" + msg + "\n").find("\nREADY=1\n") != std::string::npos) {
    notifier_.init_ready();
  }
}

}  // namespace podkvm
