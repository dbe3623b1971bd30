#include "readiness.hpp"

#include <fcntl.h>
#include <sys/inotify.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "contract/appready.hpp"
#include "contract/poddir.hpp"
#include "log.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"

namespace pod::init {

// Tell the stage1 run entrypoint, if it asked (POD_INIT_NOTIFY), that we are
// up or ready. The kernel attaches our credentials, so the receiver learns
// our pid as seen from its pid namespace.
void notify_stage1(const std::string& msg) {
  const char* path = ::getenv("POD_INIT_NOTIFY");
  if (!path || !*path) return;
  int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return;
  UniqueFd f(fd);
  struct sockaddr_un sa {};
  sa.sun_family = AF_UNIX;
  std::strncpy(sa.sun_path, path, sizeof sa.sun_path - 1);
  struct ucred cred {::getpid(), ::getuid(), ::getgid()};
  char control[CMSG_SPACE(sizeof cred)] = {};
  struct iovec iov {const_cast<char*>(msg.data()), msg.size()};
  struct msghdr mh {};
  mh.msg_name = &sa;
  mh.msg_namelen = sizeof sa;
  mh.msg_iov = &iov;
  mh.msg_iovlen = 1;
  mh.msg_control = control;
  mh.msg_controllen = sizeof control;
  struct cmsghdr* c = CMSG_FIRSTHDR(&mh);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_CREDENTIALS;
  c->cmsg_len = CMSG_LEN(sizeof cred);
  std::memcpy(CMSG_DATA(c), &cred, sizeof cred);
  if (::sendmsg(fd, &mh, MSG_NOSIGNAL) < 0) log_warn("cannot notify " + std::string(path) + ": " + std::strerror(errno));
}

std::optional<ReadyWatch> ReadyWatch::from_env() {
  const char* dir = ::getenv("POD_APP_READY_DIR");
  if (!dir || !*dir) return std::nullopt;
  return ReadyWatch(dir);
}

ReadyWatch::ReadyWatch(const std::string& dir) : dir_(open_dir_at(AT_FDCWD, dir)) {
  int fd = ::inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
  if (fd < 0) throw_sys("inotify_init1");
  inotify_ = UniqueFd(fd);
  // Records are written to a temp file and renamed (IN_MOVED_TO), or written in place.
  const std::string path = "/proc/self/fd/" + std::to_string(dir_.get());
  if (::inotify_add_watch(fd, path.c_str(), IN_MOVED_TO | IN_CLOSE_WRITE) < 0)
    throw_sys("cannot watch " + dir);
}

void ReadyWatch::drain() {
  alignas(struct inotify_event) char buf[4096];
  while (::read(inotify_.get(), buf, sizeof buf) > 0) {
  }
}

bool ReadyWatch::ready(const std::string& app) const {
  auto text = try_read_file_at(dir_.get(), app, 64 << 10);
  if (!text) return false;
  auto r = contract::parse_app_readiness(*text);
  return r && r->ready;
}

}  // namespace pod::init
