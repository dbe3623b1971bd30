// sd-notify-send: what an app that supports systemd notify does, for tests.
// Static, so that it runs in a test image that has nothing else.
//
//   sd-notify-send LINE [LINE...]    one datagram "LINE\nLINE..." to $NOTIFY_SOCKET
//
// Exit 0 when sent, 1 without NOTIFY_SOCKET, 2 when sending failed.
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

int main(int argc, char** argv) {
  const char* path = std::getenv("NOTIFY_SOCKET");
  if (!path || !*path) {
    std::fprintf(stderr, "sd-notify-send: NOTIFY_SOCKET is not set\n");
    return 1;
  }
  std::string msg;
  for (int i = 1; i < argc; ++i) msg += (i > 1 ? "\n" : "") + std::string(argv[i]);
  struct sockaddr_un sa {};
  sa.sun_family = AF_UNIX;
  if (std::strlen(path) >= sizeof sa.sun_path) {
    std::fprintf(stderr, "sd-notify-send: NOTIFY_SOCKET path too long\n");
    return 2;
  }
  std::strcpy(sa.sun_path, path);
  socklen_t len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + std::strlen(path) + 1);
  if (sa.sun_path[0] == '@') {  // abstract, as sd_notify(3) allows: no trailing NUL
    sa.sun_path[0] = '\0';
    --len;
  }
  int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0 || ::sendto(fd, msg.data(), msg.size(), 0, reinterpret_cast<sockaddr*>(&sa), len) < 0) {
    std::fprintf(stderr, "sd-notify-send: %s: %s\n", path, std::strerror(errno));
    return 2;
  }
  ::close(fd);
  return 0;
}
