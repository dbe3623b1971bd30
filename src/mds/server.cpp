// The metadata service's HTTP side: libmicrohttpd parses HTTP and the POSTed
// forms; Service (service.cpp) answers.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cctype>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <regex>

#include "mds/mhd_api.hpp"
#include "mds/server.hpp"
#include "util/error.hpp"
#include "util/fd.hpp"

namespace pod::mds {

namespace {

constexpr size_t kMaxBody = 1 << 20;  // a POSTed form larger than this is refused (413)

struct Connection {
  Request req;
  MHD_PostProcessor* pp = nullptr;
  size_t body = 0;
  bool too_large = false;
  ~Connection() {
    if (pp) mhd().destroy_post_processor(pp);
  }
};

MHD_Result on_form_field(void* cls, MHD_ValueKind, const char* key, const char*, const char*, const char*,
                         const char* data, uint64_t off, size_t size) {
  auto* c = static_cast<Connection*>(cls);
  std::string& v = c->req.form[key];
  if (off == 0) v.clear();
  v.append(data ? data : "", size);
  return MHD_YES;
}

MHD_Result on_header(void* cls, MHD_ValueKind, const char* key, const char* value) {
  std::string k = key;
  for (auto& ch : k) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  static_cast<Request*>(cls)->headers[k] = value ? value : "";
  return MHD_YES;
}

MHD_Result respond(MHD_Connection* conn, const Reply& r) {
  MHD_Response* resp = mhd().create_response_from_buffer(r.body.size(), const_cast<char*>(r.body.data()),
                                                       MHD_RESPMEM_MUST_COPY);
  if (!resp) return MHD_NO;
  mhd().add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, r.content_type.c_str());
  MHD_Result ok = mhd().queue_response(conn, static_cast<unsigned>(r.status), resp);
  mhd().destroy_response(resp);
  return ok;
}

MHD_Result on_request(void* cls, MHD_Connection* conn, const char* url, const char* method, const char*,
                      const char* upload, size_t* upload_size, void** con_cls) {
  const Service& service = *static_cast<const Service*>(cls);
  auto* c = static_cast<Connection*>(*con_cls);
  if (!c) {  // the headers have arrived; the body (if any) comes in the next calls
    c = new Connection;
    *con_cls = c;
    c->req.method = method;
    c->req.path = url;
    mhd().get_connection_values(conn, MHD_HEADER_KIND, on_header, &c->req);
    if (c->req.method == "POST") c->pp = mhd().create_post_processor(conn, 16 * 1024, on_form_field, c);
    return MHD_YES;
  }
  if (*upload_size) {
    c->body += *upload_size;
    if (c->body > kMaxBody) c->too_large = true;
    else if (c->pp) mhd().post_process(c->pp, upload, *upload_size);
    *upload_size = 0;
    return MHD_YES;
  }
  if (c->too_large) return respond(conn, {413, "text/plain; charset=us-ascii", "request body too large\n"});
  try {
    return respond(conn, service.handle(c->req));
  } catch (const std::exception& e) {
    return respond(conn, {500, "text/plain; charset=us-ascii", std::string(e.what()) + "\n"});
  }
}

void on_completed(void*, MHD_Connection*, void** con_cls, MHD_RequestTerminationCode) {
  delete static_cast<Connection*>(*con_cls);
  *con_cls = nullptr;
}

UniqueFd listen_tcp(const std::string& addr) {
  static const std::regex re(R"(tcp://(\d{1,3}(?:\.\d{1,3}){3}):(\d{1,5}))");
  std::smatch m;
  struct sockaddr_in sa {};
  sa.sin_family = AF_INET;
  if (!std::regex_match(addr, m, re) || ::inet_pton(AF_INET, m[1].str().c_str(), &sa.sin_addr) != 1 ||
      std::stoul(m[2]) > 65535)
    throw usage_error("--listen " + addr + ": expected tcp://IPV4:PORT or unix:PATH");
  sa.sin_port = htons(static_cast<uint16_t>(std::stoul(m[2])));
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw_sys("socket");
  UniqueFd s(fd);
  int on = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) < 0) throw_sys("cannot listen on " + addr);
  if (::listen(fd, 128) < 0) throw_sys("listen " + addr);
  return s;
}

UniqueFd listen_unix(const std::string& addr) {
  const std::string path = addr.substr(5);
  struct sockaddr_un sa {};
  sa.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof sa.sun_path) throw usage_error("--listen " + addr + ": bad socket path");
  std::strcpy(sa.sun_path, path.c_str());
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw_sys("socket");
  UniqueFd s(fd);
  struct stat st;
  if (::lstat(path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode)) ::unlink(path.c_str());  // a stale socket of ours
  if (::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) < 0) throw_sys("cannot listen on " + addr);
  if (::listen(fd, 128) < 0) throw_sys("listen " + addr);
  return s;
}

// Sockets passed by systemd socket activation (sd_listen_fds(3): LISTEN_PID is us, LISTEN_FDS of them from fd 3).
std::vector<UniqueFd> activated_sockets() {
  std::vector<UniqueFd> out;
  const char* pid = std::getenv("LISTEN_PID");
  const char* n = std::getenv("LISTEN_FDS");
  if (!pid || !n || std::atol(pid) != static_cast<long>(::getpid())) return out;
  for (int i = 0; i < std::atoi(n); ++i) out.emplace_back(3 + i);
  ::unsetenv("LISTEN_PID");
  ::unsetenv("LISTEN_FDS");
  ::unsetenv("LISTEN_FDNAMES");
  return out;
}

struct DaemonStop {
  void operator()(MHD_Daemon* d) const { mhd().stop_daemon(d); }
};

}  // namespace

void serve(const std::string& data_dir, const std::vector<std::string>& listen,
           const std::function<void(const std::string&)>& started) {
  std::vector<UniqueFd> socks = activated_sockets();
  std::vector<std::string> names(socks.size(), "a socket from systemd");
  for (const auto& addr : socks.empty() && listen.empty() ? std::vector<std::string>{kDefaultListen} : listen) {
    socks.push_back(addr.rfind("unix:", 0) == 0 ? listen_unix(addr) : listen_tcp(addr));
    names.push_back(addr);
  }
  sigset_t set;
  sigemptyset(&set);
  for (int s : {SIGTERM, SIGINT, SIGHUP}) sigaddset(&set, s);
  ::sigprocmask(SIG_BLOCK, &set, nullptr);  // before the daemons' threads start: they inherit the mask
  int sfd = ::signalfd(-1, &set, SFD_CLOEXEC);
  if (sfd < 0) throw_sys("signalfd");
  UniqueFd sig(sfd);

  Service service(data_dir);
  std::vector<std::unique_ptr<MHD_Daemon, DaemonStop>> daemons;
  for (size_t i = 0; i < socks.size(); ++i) {
    MHD_Daemon* d = mhd().start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, 0, nullptr, nullptr,
                                     on_request, &service, MHD_OPTION_LISTEN_SOCKET, socks[i].get(),
                                     MHD_OPTION_NOTIFY_COMPLETED, on_completed, nullptr,
                                     MHD_OPTION_CONNECTION_TIMEOUT, 30u, MHD_OPTION_END);
    if (!d) throw Error("cannot serve on " + names[i] + " (libmicrohttpd refused the socket)");
    daemons.emplace_back(d);
    (void)socks[i].release();  // MHD_stop_daemon closes it
    if (started) started(names[i]);
  }
  struct signalfd_siginfo si;
  while (::read(sfd, &si, sizeof si) < 0 && errno == EINTR) {
  }
  daemons.clear();  // stops them (waits for their threads) before the sockets close
}

}  // namespace pod::mds
