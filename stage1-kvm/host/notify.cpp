#include "notify.hpp"

#include "../common/frame.hpp"
#include "hostutil.hpp"

namespace podkvm {

GuestNotify::GuestNotify(const std::string& socket_path, pod::sd::PodNotifier notifier)
    : sock_(socket_path), notifier_(std::move(notifier)) {}

void GuestNotify::add_pollfds(std::vector<pollfd>& p) const { sock_.add_pollfds(p); }

void GuestNotify::handle(const std::vector<pollfd>& p) {
  for (const auto& q : p) {
    if (!sock_.readable(q)) continue;
    Frame f;
    if (!recv_frame(sock_.conn(), f)) {
      sock_.close_conn();  // the VM is going away
      continue;
    }
    if (f.type == kNotify) on_frame(f.data);
  }
}

void GuestNotify::on_frame(const std::string& payload) {
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
