// Registration with the metadata service: two files in the pod dir.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <regex>

#include "mds/mds.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"
#include "util/uuid.hpp"

namespace pod::mds {

namespace {

struct HostPort {
  std::string host;
  uint16_t port;
};

HostPort parse_base(const std::string& url) {
  static const std::regex re(R"(http://(\d{1,3}(?:\.\d{1,3}){3}):(\d{1,5})/?)");
  std::smatch m;
  struct in_addr a {};
  if (!std::regex_match(url, m, re) || ::inet_pton(AF_INET, m[1].str().c_str(), &a) != 1 || std::stoul(m[2]) == 0 ||
      std::stoul(m[2]) > 65535)
    throw usage_error("metadata service URL \"" + url + "\": expected http://IPV4:PORT, e.g. " + kDefaultUrl);
  return {m[1].str(), static_cast<uint16_t>(std::stoul(m[2]))};
}

}  // namespace

std::string register_pod(int pod_dirfd, const std::string& uuid, const std::string& base_url) {
  parse_base(base_url);
  UniqueFd dir = mkdirs_at(pod_dirfd, "mds", 0700);
  const std::string token = random_hex(16);
  // The pod's files need no fsync: see run/prepare.cpp.
  write_file_at(pod_dirfd, kKeyFile, random_bytes(64), 0600, Durability::kVolatile);
  write_file_at(pod_dirfd, kTokenFile, token + "\n", 0600, Durability::kVolatile);
  std::string base = base_url;
  if (base.back() == '/') base.pop_back();
  return base + "/" + uuid + "/" + token;
}

void check_reachable(const std::string& base_url) {
  const HostPort hp = parse_base(base_url);
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) throw_sys("socket");
  UniqueFd s(fd);
  struct sockaddr_in sa {};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(hp.port);
  ::inet_pton(AF_INET, hp.host.c_str(), &sa.sin_addr);
  int rc = ::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa);
  if (rc < 0 && errno == EINPROGRESS) {
    struct pollfd p {fd, POLLOUT, 0};
    rc = ::poll(&p, 1, 2000) == 1 ? 0 : -1;
    int err = 0;
    socklen_t len = sizeof err;
    if (rc == 0 && (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0 || err != 0)) rc = -1, errno = err;
    if (rc < 0 && errno == 0) errno = ETIMEDOUT;
  }
  if (rc < 0)
    throw Error("--mds-register: no metadata service answers at " + base_url + " (" + std::strerror(errno) +
                "); start it with `pod metadata-service` or its socket unit",
                errno, ErrorKind::Failed);
}

void check_pod_network(const std::string& base_url, const std::string& net, bool cni) {
  const HostPort hp = parse_base(base_url);
  if (net == "none")
    throw usage_error("--mds-register with --net=none: the pod has no network on which its apps could reach the "
                      "metadata service");
  if (cni && hp.host.rfind("127.", 0) == 0)
    throw usage_error("--mds-register: " + base_url + " is a loopback address, which the apps of a pod on --net=" +
                      net + " (a network namespace of its own) cannot reach; start the service on an address of the "
                      "host that the pod's network routes to (pod metadata-service --listen tcp://HOSTIP:PORT) and "
                      "pass --mds-url=http://HOSTIP:PORT, or use --net=host (Documentation/metadata-service.md)");
}

}  // namespace pod::mds
