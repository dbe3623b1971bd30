#include "notify.hpp"

#include <unistd.h>

#include "../common/frame.hpp"
#include "hostutil.hpp"

namespace podkvm {

GuestNotify::GuestNotify(const std::string& socket_path, pod::sd::PodNotifier notifier)
    : sock_(socket_path), notifier_(std::move(notifier)) {}

void GuestNotify::relay_output() {
  out_.emplace(STDOUT_FILENO);
  err_.emplace(STDERR_FILENO);
}

void GuestNotify::add_pollfds(std::vector<pollfd>& p) const {
  sock_.add_pollfds(p);
  for (const auto* s : {&out_, &err_})
    if (*s && (*s)->backlogged()) p.push_back({(*s)->fd(), POLLOUT, 0});
}

void GuestNotify::handle(const std::vector<pollfd>& p) {
  for (const auto& q : p) {
    for (auto* s : {&out_, &err_})
      if (*s && (q.events & POLLOUT) && q.fd == (*s)->fd() && q.revents) (*s)->flush();
    if (!sock_.readable(q)) continue;
    // Everything that is there now (output comes in many frames), then
    // back to the loop.
    for (int i = 0; i < 64 && sock_.connected(); ++i) {
      Frame f;
      if (!recv_frame(sock_.conn(), f)) {
        sock_.close_conn();  // the VM is going away
        break;
      }
      on_frame(f);
      pollfd more{sock_.conn(), POLLIN, 0};
      if (::poll(&more, 1, 0) <= 0) break;
    }
  }
}

void GuestNotify::finish(int stall_ms) {
  while (sock_.connected()) {
    Frame f;
    if (!recv_frame(sock_.conn(), f)) sock_.close_conn();
    else on_frame(f);
  }
  for (auto* s : {&out_, &err_})
    if (*s) (*s)->finish(stall_ms);
}

void GuestNotify::on_frame(const Frame& f) {
  if (f.type == kStdout || f.type == kStderr) {
    auto& sink = f.type == kStdout ? out_ : err_;
    if (sink) sink->write(f.data);
    return;
  }
  if (f.type != kNotify) return;
  const std::string& payload = f.data;
  auto nl = payload.find('\n');
  if (nl == std::string::npos) return;
  std::string app = payload.substr(0, nl), msg = payload.substr(nl + 1);
  debug("notify from " + (app.empty() ? std::string("the pod init") : "app " + app) + ": " + msg);
  if (!app.empty()) {
    notifier_.app_message(app, msg);
  } else if (notifier_.init_message(msg)) {
    apps_started_ = true;
  }
}

}  // namespace podkvm
