#include "systemd/sd.hpp"
#include "systemd/sd_api.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "util/error.hpp"
#include "util/fs.hpp"

namespace pod::sd {

namespace {
// systemd reads at most this much per notify datagram (NOTIFY_BUFFER_MAX).
constexpr size_t kNotifyMax = 4096;

bool starts_with(const std::string& s, const char* p) { return s.compare(0, std::strlen(p), p) == 0; }

// Calls f for every line of a newline-separated notify message (a trailing
// newline or NUL, as some senders add, gives no extra line).
template <typename F>
void for_each_line(std::string msg, F&& f) {
  while (!msg.empty() && (msg.back() == '\n' || msg.back() == '\0')) msg.pop_back();
  size_t i = 0;
  while (i <= msg.size()) {
    size_t j = msg.find('\n', i);
    if (j == std::string::npos) j = msg.size();
    f(msg.substr(i, j - i));
    i = j + 1;
  }
}

bool has_line(const std::string& msg, const std::string& line) {
  bool found = false;
  for_each_line(msg, [&](const std::string& l) { found = found || l == line; });
  return found;
}


// Close fds that arrived as SCM_RIGHTS (FDSTORE=1 from the app); we never keep them.
void close_passed_fds(struct msghdr& mh) {
  for (struct cmsghdr* c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    int* fds = reinterpret_cast<int*>(CMSG_DATA(c));
    for (size_t i = 0; i < n; ++i) ::close(fds[i]);
  }
}
}  // namespace

// sd_booted(3) is defined as this test; done here, it needs no libsystemd.
bool booted() {
  struct stat st;
  return ::lstat("/run/systemd/system/", &st) == 0 && S_ISDIR(st.st_mode);
}

std::string own_service_unit() {
  if (!booted()) return "";
  std::string unified, named;
  for_each_line(read_file("/proc/self/cgroup"), [&](const std::string& l) {
    if (starts_with(l, "0::")) unified = l.substr(3);
    else if (size_t i = l.find(":name=systemd:"); i != std::string::npos) named = l.substr(i + 14);
  });
  // A hybrid host's unified line is "/" (no controllers, no units there): systemd's own hierarchy says.
  const std::string& path = named.empty() ? unified : named;
  std::string last = path.substr(path.rfind('/') + 1);
  const std::string suffix = ".service";
  bool service = last.size() > suffix.size() && last.compare(last.size() - suffix.size(), suffix.size(), suffix) == 0;
  return service ? last : "";
}

bool notify_socket_set() {
  const char* e = std::getenv("NOTIFY_SOCKET");
  return e && *e;
}

bool notify(const std::string& state, pid_t as_pid) {
  if (!notify_socket_set() || state.empty()) return false;
  int r = as_pid > 0 ? libsystemd().pid_notify(as_pid, 0, state.c_str()) : libsystemd().notify(0, state.c_str());
  return r > 0;
}

bool notify_ready(const std::string& status, pid_t as_pid) {
  std::string s = "READY=1";
  if (!status.empty()) s += "\nSTATUS=" + status;
  return notify(s, as_pid);
}

std::string filter_app_notify(const std::string& message) {
  std::string out;
  for_each_line(message, [&](const std::string& line) {
    bool keep = line == "READY=1" || line == "STOPPING=1" || line == "RELOADING=1" || starts_with(line, "STATUS=") ||
                starts_with(line, "ERRNO=") || starts_with(line, "MONOTONIC_USEC=");
    if (keep) out += (out.empty() ? "" : "\n") + line;
  });
  return out;
}

NotifyRelay NotifyRelay::open(int dirfd, const std::string& name) {
  if (name.empty() || name.find('/') != std::string::npos) throw Error("bad notify socket name \"" + name + "\"");
  NotifyRelay r;
  int dfd = ::fcntl(dirfd, F_DUPFD_CLOEXEC, 3);
  if (dfd < 0) throw_sys("cannot duplicate directory fd");
  r.dir_ = UniqueFd(dfd);
  r.name_ = name;
  r.path_ = fd_path(dfd) + "/" + name;
  if (auto st = stat_at(dfd, name)) {
    if (!S_ISSOCK(st->st_mode)) throw Error(r.path_ + " exists and is not a socket", EEXIST);
    if (::unlinkat(dfd, name.c_str(), 0) < 0 && errno != ENOENT) throw_sys("cannot remove stale " + r.path_);
  }
  int s = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (s < 0) throw_sys("cannot create notify socket");
  r.fd_ = UniqueFd(s);
  struct sockaddr_un sa {};
  sa.sun_family = AF_UNIX;
  std::string via = "/proc/self/fd/" + std::to_string(dfd) + "/" + name;
  if (via.size() >= sizeof(sa.sun_path)) throw Error("notify socket name too long: " + name, ENAMETOOLONG);
  std::memcpy(sa.sun_path, via.c_str(), via.size() + 1);
  if (::bind(s, reinterpret_cast<struct sockaddr*>(&sa), sizeof(sa)) < 0) throw_sys("cannot bind " + r.path_);
  // Accept SCM_CREDENTIALS like systemd's own notify socket does (senders
  // may attach them); we read and ignore them.
  int one = 1;
  (void)::setsockopt(s, SOL_SOCKET, SO_PASSCRED, &one, sizeof(one));
  // The app in the pod may run as any user.
  (void)::fchmodat(dfd, name.c_str(), 0666, 0);
  return r;
}

std::vector<std::string> NotifyRelay::receive(int timeout_ms, std::vector<std::string>* dropped) {
  std::vector<std::string> out;
  if (!fd_) return out;
  struct pollfd pfd {fd_.get(), POLLIN, 0};
  int pr;
  do pr = ::poll(&pfd, 1, timeout_ms);
  while (pr < 0 && errno == EINTR);
  if (pr < 0) throw_sys("cannot poll notify socket " + path_);
  if (pr == 0) return out;
  for (;;) {
    char buf[kNotifyMax + 1];
    alignas(struct cmsghdr) char ctl[CMSG_SPACE(sizeof(struct ucred)) + CMSG_SPACE(sizeof(int) * 253)];
    struct iovec iov {buf, sizeof(buf) - 1};
    struct msghdr mh {};
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    mh.msg_control = ctl;
    mh.msg_controllen = sizeof(ctl);
    ssize_t n = ::recvmsg(fd_.get(), &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC | MSG_TRUNC);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      throw_sys("cannot read notify socket " + path_);
    }
    close_passed_fds(mh);
    if (static_cast<size_t>(n) > kNotifyMax || (mh.msg_flags & MSG_TRUNC)) continue;  // systemd drops these too
    std::string msg(buf, static_cast<size_t>(n));
    if (dropped)
      for_each_line(msg, [&](const std::string& line) {
        if (!line.empty() && filter_app_notify(line).empty()) dropped->push_back(line);
      });
    std::string kept = filter_app_notify(msg);
    if (!kept.empty()) out.push_back(std::move(kept));
  }
  return out;
}

RelayEvents NotifyRelay::pump(int timeout_ms) {
  RelayEvents ev;
  for (auto& kept : receive(timeout_ms, &ev.dropped)) {
    if (has_line(kept, "READY=1")) ev.ready = true;
    notify(kept, forward_pid_);
    ev.forwarded.push_back(std::move(kept));
  }
  return ev;
}

PodNotifier::PodNotifier(std::string mode, std::vector<std::string> apps, pid_t as_pid)
    : mode_(std::move(mode)), waiting_(std::move(apps)), as_pid_(as_pid) {}

void PodNotifier::send(const std::string& lines) {
  if (!lines.empty()) notify(lines, as_pid_);
}

bool PodNotifier::init_message(const std::string& raw) {
  if (!has_line(raw, "READY=1")) return false;
  if (mode_ == "started" && !ready_sent_) {
    ready_sent_ = true;
    send("READY=1\nSTATUS=pod started");
  }
  return true;
}

void PodNotifier::app_message(const std::string& app, const std::string& raw) {
  if (mode_ != "app") return;
  std::string out;
  bool ready = false;
  for_each_line(filter_app_notify(raw), [&](const std::string& line) {
    if (line == "READY=1") {
      ready = true;
      return;
    }
    out += (out.empty() ? "" : "\n") + line;
  });
  if (ready) std::erase(waiting_, app);
  if (ready && waiting_.empty() && !ready_sent_) {
    ready_sent_ = true;
    out += (out.empty() ? "" : "\n") + std::string("READY=1");
  }
  send(out);
}

void NotifyRelay::close() {
  if (dir_ && !name_.empty()) (void)::unlinkat(dir_.get(), name_.c_str(), 0);
  fd_.reset();
  dir_.reset();
}

NotifyRelay::~NotifyRelay() { close(); }

}  // namespace pod::sd
