#include "net.hpp"

#include <arpa/inet.h>
#include <dirent.h>
#include <net/if.h>
#include <net/route.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace podkvm {

namespace {

struct Sock {
  int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  ~Sock() {
    if (fd >= 0) ::close(fd);
  }
};

bool fail(const char* what, const std::string& name) {
  std::fprintf(stderr, "pod-kvm-boot: network: %s %s: %s\n", what, name.c_str(), std::strerror(errno));
  return false;
}

sockaddr_in inet(in_addr_t a) {
  sockaddr_in s{};
  s.sin_family = AF_INET;
  s.sin_addr.s_addr = a;
  return s;
}

bool set_up(int fd, const std::string& ifname) {
  ifreq r{};
  std::strncpy(r.ifr_name, ifname.c_str(), IFNAMSIZ - 1);
  if (::ioctl(fd, SIOCGIFFLAGS, &r) < 0) return fail("cannot read the flags of", ifname);
  r.ifr_flags |= IFF_UP | IFF_RUNNING;
  if (::ioctl(fd, SIOCSIFFLAGS, &r) < 0) return fail("cannot bring up", ifname);
  return true;
}

// The first interface other than lo, waiting up to 5 s for the driver to
// bind (modules were just loaded).
std::string first_nic() {
  for (int i = 0; i < 500; ++i) {
    if (DIR* d = ::opendir("/sys/class/net")) {
      std::string found;
      while (dirent* e = ::readdir(d))
        if (e->d_name[0] != '.' && std::strcmp(e->d_name, "lo") != 0) found = e->d_name;
      ::closedir(d);
      if (!found.empty()) return found;
    }
    ::usleep(10 * 1000);
  }
  return "";
}

}  // namespace

bool bring_up_loopback() {
  Sock s;
  if (s.fd < 0) return fail("socket", "");
  return set_up(s.fd, "lo");
}

bool configure_net(const std::string& spec) {
  // ADDR/PREFIX,GATEWAY
  auto slash = spec.find('/'), comma = spec.find(',');
  if (slash == std::string::npos || comma == std::string::npos || comma < slash) {
    errno = EINVAL;
    return fail("bad pod.net", spec);
  }
  in_addr addr{}, gw{};
  int prefix = std::atoi(spec.substr(slash + 1, comma - slash - 1).c_str());
  if (::inet_pton(AF_INET, spec.substr(0, slash).c_str(), &addr) != 1 ||
      ::inet_pton(AF_INET, spec.substr(comma + 1).c_str(), &gw) != 1 || prefix < 1 || prefix > 32) {
    errno = EINVAL;
    return fail("bad pod.net", spec);
  }
  std::string nic = first_nic();
  if (nic.empty()) {
    errno = ENODEV;
    return fail("no network interface for", spec);
  }
  Sock s;
  if (s.fd < 0) return fail("socket", "");
  ifreq r{};
  std::strncpy(r.ifr_name, nic.c_str(), IFNAMSIZ - 1);
  sockaddr_in a = inet(addr.s_addr);
  std::memcpy(&r.ifr_addr, &a, sizeof a);
  if (::ioctl(s.fd, SIOCSIFADDR, &r) < 0) return fail("cannot set the address of", nic);
  sockaddr_in m = inet(htonl(prefix == 32 ? 0xffffffffu : ~((1u << (32 - prefix)) - 1)));
  std::memcpy(&r.ifr_netmask, &m, sizeof m);
  if (::ioctl(s.fd, SIOCSIFNETMASK, &r) < 0) return fail("cannot set the netmask of", nic);
  if (!set_up(s.fd, nic)) return false;
  rtentry rt{};
  sockaddr_in any = inet(INADDR_ANY), via = inet(gw.s_addr);
  std::memcpy(&rt.rt_dst, &any, sizeof any);
  std::memcpy(&rt.rt_genmask, &any, sizeof any);
  std::memcpy(&rt.rt_gateway, &via, sizeof via);
  rt.rt_flags = RTF_UP | RTF_GATEWAY;
  if (::ioctl(s.fd, SIOCADDRT, &rt) < 0) return fail("cannot add the default route via", spec.substr(comma + 1));
  return true;
}

}  // namespace podkvm
