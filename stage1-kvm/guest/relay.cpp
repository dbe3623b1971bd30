#include "relay.hpp"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "../common/frame.hpp"

namespace podkvm {

namespace {
int bind_dgram(const std::string& path, mode_t mode) {
  struct sockaddr_un sa {};
  sa.sun_family = AF_UNIX;
  if (path.size() >= sizeof sa.sun_path) {
    errno = ENAMETOOLONG;
    return -1;
  }
  std::strcpy(sa.sun_path, path.c_str());
  ::unlink(path.c_str());
  int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return -1;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) < 0 || ::chmod(path.c_str(), mode) < 0) {
    int e = errno;
    ::close(fd);
    errno = e;
    return -1;
  }
  return fd;
}
}  // namespace

bool GuestRelay::bind(const std::string& root, const std::vector<std::string>& apps) {
  ::mkdir((root + kAppDir).c_str(), 0755);
  std::vector<std::pair<std::string, std::string>> want = {{"", root + kInitSocket}};
  for (const auto& a : apps) {
    if (a.empty() || a == "." || a == ".." || a.find('/') != std::string::npos) {
      std::fprintf(stderr, "pod-kvm-boot: bad app name for a notify socket: \"%s\"\n", a.c_str());
      return false;
    }
    want.emplace_back(a, root + kAppDir + "/" + a);
  }
  for (const auto& [app, path] : want) {
    // Apps may run as any user; only the pod init's socket stays root's.
    int fd = bind_dgram(path, app.empty() ? 0600 : 0666);
    if (fd < 0) {
      std::fprintf(stderr, "pod-kvm-boot: cannot bind %s: %s\n", path.c_str(), std::strerror(errno));
      return false;
    }
    socks_.push_back({app, fd});
  }
  return true;
}

void GuestRelay::add_pollfds(std::vector<pollfd>& p) const {
  for (const auto& s : socks_) p.push_back({s.fd, POLLIN, 0});
}

void GuestRelay::handle(const std::vector<pollfd>& p, int port) {
  for (const auto& q : p)
    for (const auto& s : socks_) {
      if (q.fd != s.fd || !(q.revents & POLLIN)) continue;
      char buf[4097];
      ssize_t n;
      while ((n = ::recv(s.fd, buf, sizeof buf, MSG_DONTWAIT | MSG_TRUNC)) >= 0) {
        if (n > 4096 || port < 0) continue;  // systemd drops oversized ones too
        std::string frame = s.app + "\n" + std::string(buf, static_cast<size_t>(n));
        send_frame(port, kNotify, frame);
      }
    }
}

GuestRelay::~GuestRelay() {
  for (const auto& s : socks_) ::close(s.fd);
}

}  // namespace podkvm
