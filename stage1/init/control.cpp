#include "control.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <map>
#include <sstream>
#include <vector>

#include "util/error.hpp"
#include "util/fs.hpp"

namespace pod::init {

namespace {

sockaddr_un address(const std::string& path) {
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  if (path.size() >= sizeof sa.sun_path) throw Error("control socket path too long: " + path);
  std::memcpy(sa.sun_path, path.c_str(), path.size() + 1);
  return sa;
}

bool wait_readable(int fd, int timeout_ms) {
  pollfd p{fd, POLLIN, 0};
  for (;;) {
    int n = ::poll(&p, 1, timeout_ms);
    if (n < 0 && errno == EINTR) continue;
    return n > 0;
  }
}

// One message; a descriptor sent with it (SCM_RIGHTS) goes to `fd` when given, else it is closed.
std::optional<std::string> receive_message(int fd, int timeout_ms, UniqueFd* passed = nullptr) {
  if (!wait_readable(fd, timeout_ms)) return std::nullopt;
  std::string buf(kMaxControlMessage, '\0');
  iovec iov{buf.data(), buf.size()};
  alignas(cmsghdr) char ctl[CMSG_SPACE(sizeof(int))];
  msghdr mh{};
  mh.msg_iov = &iov;
  mh.msg_iovlen = 1;
  mh.msg_control = ctl;
  mh.msg_controllen = sizeof ctl;
  ssize_t n;
  do n = ::recvmsg(fd, &mh, MSG_CMSG_CLOEXEC);
  while (n < 0 && errno == EINTR);
  if (n <= 0) return std::nullopt;
  for (cmsghdr* c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS && c->cmsg_len == CMSG_LEN(sizeof(int))) {
      int got;
      std::memcpy(&got, CMSG_DATA(c), sizeof got);
      UniqueFd owned(got);
      if (passed) *passed = std::move(owned);
    }
  buf.resize(static_cast<size_t>(n));
  return buf;
}

void send_message(int fd, const std::string& msg, int pass_fd = -1) {
  iovec iov{const_cast<char*>(msg.data()), msg.size()};
  alignas(cmsghdr) char ctl[CMSG_SPACE(sizeof(int))] = {};
  msghdr mh{};
  mh.msg_iov = &iov;
  mh.msg_iovlen = 1;
  if (pass_fd >= 0) {
    mh.msg_control = ctl;
    mh.msg_controllen = sizeof ctl;
    cmsghdr* c = CMSG_FIRSTHDR(&mh);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    std::memcpy(CMSG_DATA(c), &pass_fd, sizeof pass_fd);
  }
  ssize_t n;
  do n = ::sendmsg(fd, &mh, MSG_NOSIGNAL);
  while (n < 0 && errno == EINTR);
  if (n < 0) throw_sys("control socket: send");
}

}  // namespace

UniqueFd control_listen(const std::string& path) {
  UniqueFd s(::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!s) throw_sys("control socket");
  ::unlink(path.c_str());
  sockaddr_un sa = address(path);
  if (::bind(s.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa) < 0) throw_sys("cannot bind " + path);
  if (::listen(s.get(), 16) < 0) throw_sys("listen " + path);
  return s;
}

std::optional<nlohmann::json> control_receive(int conn, int timeout_ms, UniqueFd* passed) {
  auto msg = receive_message(conn, timeout_ms, passed);
  if (!msg) return std::nullopt;
  auto j = nlohmann::json::parse(*msg, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return std::nullopt;
  return j;
}

void control_reply(int conn, const nlohmann::json& reply) { send_message(conn, reply.dump()); }

nlohmann::json control_request(const std::string& path, const nlohmann::json& request, int timeout_ms, int pass_fd) {
  UniqueFd s(::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0));
  if (!s) throw_sys("control socket");
  sockaddr_un sa = address(path);
  if (::connect(s.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa) < 0)
    throw_sys("cannot reach the pod init at " + path + " (is the pod running?)");
  send_message(s.get(), request.dump(), pass_fd);
  auto reply = receive_message(s.get(), timeout_ms);
  if (!reply) throw Error("the pod init did not answer on " + path, ETIMEDOUT);
  auto j = nlohmann::json::parse(*reply, nullptr, false);
  if (j.is_discarded() || !j.is_object()) throw Error("the pod init sent a malformed reply on " + path);
  if (j.contains("error") && j["error"].is_string()) throw Error(j["error"].get<std::string>());
  return j;
}

namespace {

struct ProcStat {
  pid_t ppid = 0;
  uint64_t ticks = 0;     // utime + stime + cutime + cstime
  uint64_t rss_pages = 0;
};

std::optional<ProcStat> read_stat(pid_t pid) {
  auto text = try_read_file_at(AT_FDCWD, "/proc/" + std::to_string(pid) + "/stat", 4096);
  if (!text) return std::nullopt;
  size_t close = text->rfind(')');
  if (close == std::string::npos) return std::nullopt;
  std::istringstream in(text->substr(close + 2));
  std::vector<std::string> f;  // f[0] = field 3 (state)
  for (std::string w; in >> w;) f.push_back(w);
  if (f.size() < 22) return std::nullopt;
  ProcStat st;
  try {
    st.ppid = static_cast<pid_t>(std::stol(f[1]));
    for (int i : {11, 12, 13, 14}) st.ticks += std::stoull(f[i]);  // fields 14-17
    st.rss_pages = std::stoull(f[21]);                              // field 24
  } catch (const std::exception&) {
    return std::nullopt;
  }
  return st;
}

}  // namespace

nlohmann::json handle_control_request(const nlohmann::json& req, const std::vector<AppHandle>& apps) {
  using nlohmann::json;
  const std::string op = req.value("op", "");
  const std::string only = req.contains("app") && req["app"].is_string() ? req["app"].get<std::string>() : "";
  if (!only.empty()) {
    bool known = false;
    for (const auto& a : apps) known = known || a.name == only;
    if (!known) return {{"error", "the pod has no app named \"" + only + "\""}};
  }
  json out = json::object();
  if (op == "kill") {
    if (!req.contains("signal") || !req["signal"].is_number_integer()) return {{"error", "kill: no signal"}};
    const int sig = req["signal"].get<int>();
    if (sig < 1 || sig > 64) return {{"error", "kill: signal " + std::to_string(sig) + " is out of range"}};
    for (const auto& a : apps) {
      if (!only.empty() && a.name != only) continue;
      if (!a.running || a.pid <= 0) {
        out[a.name] = "not running";
      } else if (::kill(a.pid, sig) < 0) {
        out[a.name] = std::string("cannot signal: ") + std::strerror(errno);
      } else {
        out[a.name] = "signalled";
      }
    }
    return {{"apps", out}};
  }
  if (op == "stats") {
    for (const auto& a : apps) {
      if (!only.empty() && a.name != only) continue;
      json e = {{"running", a.running}};
      if (a.exit_code) e["exitCode"] = *a.exit_code;
      if (a.running && a.pid > 0) {
        TreeUsage u = tree_usage(a.pid);
        e["pid"] = a.pid;
        e["cpuNs"] = u.cpu_ns;
        e["memoryBytes"] = u.memory_bytes;
        e["pids"] = u.pids;
      }
      out[a.name] = e;
    }
    return {{"apps", out}};
  }
  return {{"error", "unknown control request \"" + op + "\""}};
}

void serve_control(int listener, const std::function<nlohmann::json(const nlohmann::json&, UniqueFd&)>& handle) {
  for (;;) {
    int c = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
    if (c < 0) return;  // EAGAIN: nothing more pending
    UniqueFd conn(c);
    UniqueFd passed;  // closed after the reply unless the handler took it
    auto req = control_receive(conn.get(), 1000, &passed);
    if (!req) continue;
    try {
      control_reply(conn.get(), handle(*req, passed));
    } catch (const Error&) {
      // the client went away: its problem
    }
  }
}

TreeUsage tree_usage(pid_t root) {
  std::map<pid_t, ProcStat> procs;
  if (DIR* d = ::opendir("/proc")) {
    while (dirent* e = ::readdir(d)) {
      char* end;
      long pid = std::strtol(e->d_name, &end, 10);
      if (*end || pid <= 0) continue;
      if (auto st = read_stat(static_cast<pid_t>(pid))) procs[static_cast<pid_t>(pid)] = *st;
    }
    ::closedir(d);
  }
  TreeUsage u;
  if (!procs.count(root)) return u;
  std::multimap<pid_t, pid_t> children;
  for (const auto& [pid, st] : procs) children.emplace(st.ppid, pid);
  const long tick = ::sysconf(_SC_CLK_TCK), page = ::sysconf(_SC_PAGESIZE);
  std::vector<pid_t> todo = {root};
  while (!todo.empty()) {
    pid_t p = todo.back();
    todo.pop_back();
    const ProcStat& st = procs[p];
    u.cpu_ns += st.ticks * (1000000000ull / static_cast<uint64_t>(tick > 0 ? tick : 100));
    u.memory_bytes += st.rss_pages * static_cast<uint64_t>(page > 0 ? page : 4096);
    ++u.pids;
    auto [b, e] = children.equal_range(p);
    for (auto it = b; it != e; ++it) todo.push_back(it->second);
  }
  return u;
}

}  // namespace pod::init
