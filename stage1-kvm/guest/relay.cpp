#include "relay.hpp"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include <nlohmann/json.hpp>

#include "../common/frame.hpp"
#include "../../stage1/init/control.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"

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

int64_t realtime_ns() {
  struct timespec ts {};
  ::clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

// appready/<app> beneath the stage1 root, atomically (the host's run entrypoint emptied the dir).
void record_readiness(const std::string& root, const std::string& app, pod::contract::AppReadiness& r,
                      const std::string& msg) {
  if (!pod::contract::apply_notify(r, msg, realtime_ns())) return;
  try {
    pod::write_file_atomic_at(AT_FDCWD, root + GuestRelay::kReadyDir + "/" + app, pod::contract::format_app_readiness(r),
                              0644, pod::Durability::kVolatile);
  } catch (const pod::Error& e) {
    std::fprintf(stderr, "pod-kvm-boot: readiness of app %s: %s\n", app.c_str(), e.what());
  }
}
}  // namespace

bool GuestRelay::bind(const std::string& root, const std::vector<std::string>& apps) {
  root_ = root;
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
    socks_.push_back({app, fd, {}});
  }
  return true;
}

void GuestRelay::add_pollfds(std::vector<pollfd>& p) const {
  for (const auto& s : socks_) p.push_back({s.fd, POLLIN, 0});
}

void GuestRelay::handle(const std::vector<pollfd>& p, int port) {
  for (const auto& q : p)
    for (auto& s : socks_) {
      if (q.fd != s.fd || !(q.revents & POLLIN)) continue;
      char buf[4097];
      ssize_t n;
      while ((n = ::recv(s.fd, buf, sizeof buf, MSG_DONTWAIT | MSG_TRUNC)) >= 0) {
        if (n > 4096) continue;  // systemd drops oversized ones too
        const std::string msg(buf, static_cast<size_t>(n));
        if (!s.app.empty()) record_readiness(root_, s.app, s.readiness, msg);
        if (port >= 0) send_frame(port, kNotify, s.app + "\n" + msg);
      }
    }
}

GuestRelay::~GuestRelay() {
  for (const auto& s : socks_) ::close(s.fd);
}

InitOutput::InitOutput() {
  for (auto [r, w] : {std::pair{&out_r_, &out_w_}, {&err_r_, &err_w_}}) {
    int p[2];
    if (::pipe2(p, O_CLOEXEC) < 0) pod::throw_sys("pipe2");
    r->reset(p[0]);
    w->reset(p[1]);
    ::fcntl(p[0], F_SETFL, O_NONBLOCK);
  }
}

void InitOutput::close_write_ends() {
  out_w_.reset();
  err_w_.reset();
}

void InitOutput::add_pollfds(std::vector<pollfd>& p) const {
  for (const auto* fd : {&out_r_, &err_r_})
    if (*fd) p.push_back({fd->get(), POLLIN, 0});
}

// One read; false when there is nothing more now (or ever: then closed).
bool InitOutput::copy(pod::UniqueFd& fd, int type, int port) {
  char buf[65536];
  ssize_t n = ::read(fd.get(), buf, sizeof buf);
  if (n < 0 && (errno == EAGAIN || errno == EINTR)) return false;
  if (n <= 0) {
    fd.reset();
    return false;
  }
  if (port >= 0) send_frame(port, static_cast<uint8_t>(type), buf, static_cast<size_t>(n));
  else write_all(type == kStdout ? 1 : 2, buf, static_cast<size_t>(n));
  return true;
}

void InitOutput::handle(const std::vector<pollfd>& p, int port) {
  for (const auto& q : p)
    for (auto [fd, type] : {std::pair{&out_r_, int{kStdout}}, {&err_r_, int{kStderr}}})
      if (*fd && q.fd == fd->get() && q.revents) copy(*fd, type, port);
}

void InitOutput::drain(int port) {
  for (auto [fd, type] : {std::pair{&out_r_, int{kStdout}}, {&err_r_, int{kStderr}}})
    while (*fd && copy(*fd, type, port)) {
    }
}

namespace {
// An app added to the running pod: stage0 has just replaced the pod manifest
// and made the app's dirs on the host, but the guest's virtiofs dentries live
// for the share's 1 s entry timeout (vm.cpp), so the init could still read the
// old manifest (or miss a dir removed and made again). Dropping the guest's
// unused dentries and inodes makes its next lookups ask the host; app ops are
// rare, the cost is one round of lookups.
void forget_cached_pod_dir() {
  const int fd = ::open("/proc/sys/vm/drop_caches", O_WRONLY | O_CLOEXEC);
  if (fd < 0 || ::write(fd, "2", 1) != 1)
    std::fprintf(stderr, "pod-kvm-boot: cannot drop the guest's dentry cache: %s\n", std::strerror(errno));
  if (fd >= 0) ::close(fd);
}
}  // namespace

void relay_control(int ctl, const std::string& request, const std::string& init_socket) {
  auto req = nlohmann::json::parse(request, nullptr, false);
  try {
    if (req.is_discarded()) throw pod::Error("malformed control request");
    if (req.value("op", "") == "add") forget_cached_pod_dir();
    auto reply = pod::init::control_request(init_socket, req, 5000);
    send_frame(ctl, kAck, reply.dump());
  } catch (const pod::Error& e) {
    send_frame(ctl, kError, e.what());
  }
}

}  // namespace podkvm
