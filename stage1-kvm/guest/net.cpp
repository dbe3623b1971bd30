#include "net.hpp"

#include <arpa/inet.h>
#include <dirent.h>
#include <net/if.h>
#include <net/route.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

namespace podkvm {

namespace {

struct Sock {
  explicit Sock(int family = AF_INET) : fd(::socket(family, SOCK_DGRAM | SOCK_CLOEXEC, 0)) {}
  ~Sock() {
    if (fd >= 0) ::close(fd);
  }
  Sock(const Sock&) = delete;
  Sock& operator=(const Sock&) = delete;
  int fd;
};

struct Sock6 : Sock {
  Sock6() : Sock(AF_INET6) {}
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

// The interface with MAC address `mac`, waiting up to 5 s for its driver.
std::string nic_by_mac(const std::string& mac) {
  for (int i = 0; i < 500; ++i) {
    if (DIR* d = ::opendir("/sys/class/net")) {
      std::string found;
      while (dirent* e = ::readdir(d)) {
        if (e->d_name[0] == '.') continue;
        char buf[32] = {};
        const std::string path = std::string("/sys/class/net/") + e->d_name + "/address";
        if (FILE* f = std::fopen(path.c_str(), "re")) {
          if (std::fgets(buf, sizeof buf, f) && std::string(buf).substr(0, mac.size()) == mac) found = e->d_name;
          std::fclose(f);
        }
      }
      ::closedir(d);
      if (!found.empty()) return found;
    }
    ::usleep(10 * 1000);
  }
  return "";
}

// "A.B.C.D/N" into address and netmask.
bool parse_cidr(const std::string& cidr, in_addr& addr, in_addr& mask) {
  const auto slash = cidr.find('/');
  if (slash == std::string::npos || ::inet_pton(AF_INET, cidr.substr(0, slash).c_str(), &addr) != 1) return false;
  char* end = nullptr;
  const long prefix = std::strtol(cidr.c_str() + slash + 1, &end, 10);
  if (*end || prefix < 0 || prefix > 32) return false;
  mask.s_addr = htonl(prefix == 0 ? 0 : ~((1u << (32 - prefix)) - 1));
  return true;
}

// SIOCADDRT / SIOCDELRT of dst/mask (via gw when set) on dev.
int route_ioctl(int fd, unsigned long op, const std::string& dev, in_addr dst, in_addr mask, const in_addr* gw,
                int metric) {
  rtentry rt{};
  sockaddr_in d = inet(dst.s_addr & mask.s_addr), m = inet(mask.s_addr);
  std::memcpy(&rt.rt_dst, &d, sizeof d);
  std::memcpy(&rt.rt_genmask, &m, sizeof m);
  rt.rt_flags = RTF_UP;
  if (mask.s_addr == 0xffffffffu) rt.rt_flags |= RTF_HOST;
  if (gw) {
    sockaddr_in g = inet(gw->s_addr);
    std::memcpy(&rt.rt_gateway, &g, sizeof g);
    rt.rt_flags |= RTF_GATEWAY;
  }
  rt.rt_metric = static_cast<short>(metric + 1);  // the ioctl's metric is the route's priority + 1
  std::string name = dev;
  rt.rt_dev = name.data();
  return ::ioctl(fd, op, &rt);
}

// ---- IPv6 (the same ioctls with an AF_INET6 socket) ----

struct In6Ifreq {  // the kernel's struct in6_ifreq (linux/ipv6.h), which glibc does not define
  in6_addr addr;
  uint32_t prefixlen;
  int ifindex;
};

bool is_v6(const std::string& cidr) { return cidr.find(':') != std::string::npos; }

bool parse_cidr6(const std::string& cidr, in6_addr& addr, int& prefix) {
  const auto slash = cidr.find('/');
  if (slash == std::string::npos || ::inet_pton(AF_INET6, cidr.substr(0, slash).c_str(), &addr) != 1) return false;
  char* end = nullptr;
  prefix = static_cast<int>(std::strtol(cidr.c_str() + slash + 1, &end, 10));
  return *end == 0 && prefix >= 0 && prefix <= 128;
}

in6_addr masked6(in6_addr a, int prefix) {
  for (int i = 0; i < 16; ++i) {
    const int keep = std::clamp(prefix - 8 * i, 0, 8);
    a.s6_addr[i] &= static_cast<uint8_t>(0xff00 >> keep);
  }
  return a;
}

int route6_ioctl(int fd6, unsigned long op, int ifindex, const in6_addr& dst, int prefix, const in6_addr* gw,
                 int metric) {
  in6_rtmsg rt{};
  rt.rtmsg_dst = masked6(dst, prefix);
  rt.rtmsg_dst_len = static_cast<uint16_t>(prefix);
  rt.rtmsg_flags = RTF_UP | (prefix == 128 ? RTF_HOST : 0);
  if (gw) {
    rt.rtmsg_gateway = *gw;
    rt.rtmsg_flags |= RTF_GATEWAY;
  }
  rt.rtmsg_metric = static_cast<uint32_t>(metric);  // 0: any (delete) or the default, 1024 (add)
  rt.rtmsg_ifindex = ifindex;
  return ::ioctl(fd6, op, &rt);
}

// No duplicate address detection: the address is the CNI interface's, which
// has it already (and DAD would keep it tentative, unusable, for a second).
bool add_address6(int fd6, const std::string& dev, int ifindex, const in6_addr& a, int prefix) {
  const std::string dad = "/proc/sys/net/ipv6/conf/" + dev + "/accept_dad";
  if (FILE* f = std::fopen(dad.c_str(), "w")) {
    std::fputs("0", f);
    std::fclose(f);
  }
  In6Ifreq r{a, static_cast<uint32_t>(prefix), ifindex};
  return ::ioctl(fd6, SIOCSIFADDR, &r) == 0;
}

bool configure_nic(int fd, const nlohmann::json& nic) {
  const std::string mac = nic.value("mac", "");
  if (mac.size() != 17) {
    errno = EINVAL;
    return fail("bad MAC address", mac);
  }
  const std::string dev = nic_by_mac(mac);
  if (dev.empty()) {
    errno = ENODEV;
    return fail("no network interface with the MAC address", mac);
  }
  ifreq r{};
  std::strncpy(r.ifr_name, dev.c_str(), IFNAMSIZ - 1);
  r.ifr_mtu = nic.value("mtu", 1500);
  if (::ioctl(fd, SIOCSIFMTU, &r) < 0) return fail("cannot set the MTU of", dev);
  // The first address on the interface, the others on aliases (dev:1, …).
  std::vector<std::pair<in_addr, in_addr>> nets;
  int n = 0;
  Sock6 s6;
  const int ifindex = static_cast<int>(::if_nametoindex(dev.c_str()));
  std::vector<std::pair<in6_addr, int>> nets6;
  for (const auto& a : nic.value("addresses", nlohmann::json::array())) {
    if (a.is_string() && is_v6(a.get<std::string>())) {
      in6_addr addr6{};
      int prefix = 0;
      if (!parse_cidr6(a.get<std::string>(), addr6, prefix)) {
        errno = EINVAL;
        return fail("bad address for", dev);
      }
      if (s6.fd < 0 || !add_address6(s6.fd, dev, ifindex, addr6, prefix))
        return fail("cannot set an IPv6 address of", dev + " (" + a.get<std::string>() + ")");
      nets6.push_back({addr6, prefix});
      continue;
    }
    in_addr addr{}, mask{};
    if (!a.is_string() || !parse_cidr(a.get<std::string>(), addr, mask)) {
      errno = EINVAL;
      return fail("bad address for", dev);
    }
    const std::string label = n == 0 ? dev : dev + ":" + std::to_string(n);
    ++n;
    ifreq ar{};
    std::strncpy(ar.ifr_name, label.c_str(), IFNAMSIZ - 1);
    sockaddr_in sa = inet(addr.s_addr), sm = inet(mask.s_addr);
    std::memcpy(&ar.ifr_addr, &sa, sizeof sa);
    if (::ioctl(fd, SIOCSIFADDR, &ar) < 0) return fail("cannot set an address of", label);
    std::memcpy(&ar.ifr_netmask, &sm, sizeof sm);
    if (::ioctl(fd, SIOCSIFNETMASK, &ar) < 0) return fail("cannot set a netmask of", label);
    nets.push_back({addr, mask});
  }
  if (!set_up(fd, dev)) return false;
  // The routes are the netns's, exactly (ptp, for one, has no on-link prefix
  // route): drop the ones the kernel added for the addresses, then add those
  // without a gateway before those through one.
  for (const auto& [addr, mask] : nets) route_ioctl(fd, SIOCDELRT, dev, addr, mask, nullptr, 0);
  for (const auto& [addr6, prefix] : nets6) route6_ioctl(s6.fd, SIOCDELRT, ifindex, addr6, prefix, nullptr, 0);
  const auto routes = nic.value("routes", nlohmann::json::array());
  for (bool via : {false, true})
    for (const auto& rt : routes) {
      in_addr dst{}, mask{}, gw{};
      const std::string g = rt.value("gateway", "");
      if (g.empty() == via) continue;
      if (is_v6(rt.value("dst", ""))) {
        in6_addr dst6{}, gw6{};
        int prefix = 0;
        if (!parse_cidr6(rt.value("dst", ""), dst6, prefix) || (via && ::inet_pton(AF_INET6, g.c_str(), &gw6) != 1)) {
          errno = EINVAL;
          return fail("bad route for", dev);
        }
        if (route6_ioctl(s6.fd, SIOCADDRT, ifindex, dst6, prefix, via ? &gw6 : nullptr, rt.value("metric", 0)) < 0 &&
            errno != EEXIST)
          return fail("cannot add a route to", rt.value("dst", "") + (via ? " via " + g : "") + " on " + dev);
        continue;
      }
      if (!parse_cidr(rt.value("dst", ""), dst, mask) || (via && ::inet_pton(AF_INET, g.c_str(), &gw) != 1)) {
        errno = EINVAL;
        return fail("bad route for", dev);
      }
      if (route_ioctl(fd, SIOCADDRT, dev, dst, mask, via ? &gw : nullptr, rt.value("metric", 0)) < 0 &&
          errno != EEXIST)
        return fail("cannot add a route to", rt.value("dst", "") + (via ? " via " + g : "") + " on " + dev);
    }
  return true;
}

}  // namespace

bool configure_nics(const nlohmann::json& nics) {
  Sock s;
  if (s.fd < 0) return fail("socket", "");
  bool ok = true;
  for (const auto& nic : nics) ok = (nic.is_object() && configure_nic(s.fd, nic)) && ok;
  return ok;
}

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
