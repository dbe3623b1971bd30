#include "tapnet.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <linux/if_ether.h>
#include <linux/if_tun.h>
#include <linux/netlink.h>
#include <linux/pkt_cls.h>
#include <linux/pkt_sched.h>
#include <linux/rtnetlink.h>
#include <linux/tc_act/tc_mirred.h>
#include <net/if.h>
#include <net/route.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <sstream>

#include "util/error.hpp"
#include "util/fs.hpp"

namespace podkvm {

using pod::UniqueFd;

namespace {

// ---- a few rtnetlink requests (tc), each answered by an ack ---------------

class NlMsg {
 public:
  NlMsg(uint16_t type, uint16_t flags, const void* body, size_t len) {
    buf_.resize(NLMSG_SPACE(len));
    auto* h = hdr();
    h->nlmsg_type = type;
    h->nlmsg_flags = flags;
    h->nlmsg_len = static_cast<uint32_t>(NLMSG_LENGTH(len));
    std::memcpy(NLMSG_DATA(h), body, len);
  }
  void attr(uint16_t type, const void* data, size_t len) {
    const size_t at = NLMSG_ALIGN(hdr()->nlmsg_len);
    buf_.resize(at + RTA_SPACE(len));
    auto* a = reinterpret_cast<rtattr*>(buf_.data() + at);
    a->rta_type = type;
    a->rta_len = static_cast<uint16_t>(RTA_LENGTH(len));
    if (len) std::memcpy(RTA_DATA(a), data, len);
    hdr()->nlmsg_len = static_cast<uint32_t>(at + RTA_ALIGN(a->rta_len));
  }
  void attr(uint16_t type, const std::string& s) { attr(type, s.c_str(), s.size() + 1); }
  size_t begin(uint16_t type) {
    const size_t at = NLMSG_ALIGN(hdr()->nlmsg_len);
    attr(type, nullptr, 0);
    return at;
  }
  void end(size_t at) {
    reinterpret_cast<rtattr*>(buf_.data() + at)->rta_len = static_cast<uint16_t>(hdr()->nlmsg_len - at);
  }
  nlmsghdr* hdr() { return reinterpret_cast<nlmsghdr*>(buf_.data()); }

 private:
  std::vector<uint8_t> buf_;
};

class Rtnl {
 public:
  Rtnl() : fd_(::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE)) {
    if (!fd_) pod::throw_sys("cannot open a netlink socket");
  }
  void request(NlMsg& m, const std::string& what) {
    m.hdr()->nlmsg_seq = ++seq_;
    m.hdr()->nlmsg_flags |= NLM_F_REQUEST | NLM_F_ACK;
    sockaddr_nl to{};
    to.nl_family = AF_NETLINK;
    if (::sendto(fd_.get(), m.hdr(), m.hdr()->nlmsg_len, 0, reinterpret_cast<sockaddr*>(&to), sizeof to) < 0)
      pod::throw_sys(what);
    alignas(nlmsghdr) char buf[8192];
    for (;;) {
      ssize_t n = ::recv(fd_.get(), buf, sizeof buf, 0);
      if (n < 0) {
        if (errno == EINTR) continue;
        pod::throw_sys(what);
      }
      for (auto* h = reinterpret_cast<nlmsghdr*>(buf); NLMSG_OK(h, static_cast<unsigned>(n)); h = NLMSG_NEXT(h, n)) {
        if (h->nlmsg_seq != seq_ || h->nlmsg_type != NLMSG_ERROR) continue;
        const int err = -static_cast<const nlmsgerr*>(NLMSG_DATA(h))->error;
        if (err == 0) return;
        errno = err;
        pod::throw_sys(what);
      }
    }
  }

 private:
  UniqueFd fd_;
  uint32_t seq_ = 0;
};

void add_ingress_qdisc(Rtnl& nl, int ifindex, const std::string& dev) {
  tcmsg t{};
  t.tcm_family = AF_UNSPEC;
  t.tcm_ifindex = ifindex;
  t.tcm_handle = TC_H_MAKE(TC_H_INGRESS, 0);
  t.tcm_parent = TC_H_INGRESS;
  NlMsg m(RTM_NEWQDISC, NLM_F_CREATE | NLM_F_EXCL, &t, sizeof t);
  m.attr(TCA_KIND, std::string("ingress"));
  nl.request(m, "cannot add an ingress qdisc to " + dev);
}

// tc filter add dev FROM parent ffff: protocol all u32 match u32 0 0
//    action mirred egress redirect dev TO
void redirect_all(Rtnl& nl, int from, int to, const std::string& what) {
  tcmsg t{};
  t.tcm_family = AF_UNSPEC;
  t.tcm_ifindex = from;
  t.tcm_parent = TC_H_MAKE(TC_H_INGRESS, 0);
  t.tcm_info = TC_H_MAKE(1u << 16, htons(ETH_P_ALL));  // priority 1, every protocol
  NlMsg m(RTM_NEWTFILTER, NLM_F_CREATE | NLM_F_EXCL, &t, sizeof t);
  m.attr(TCA_KIND, std::string("u32"));
  const size_t opts = m.begin(TCA_OPTIONS);
  uint8_t sel[sizeof(tc_u32_sel) + sizeof(tc_u32_key)] = {};  // one key: mask 0 at offset 0, every frame
  tc_u32_sel hdr{};
  hdr.flags = TC_U32_TERMINAL;
  hdr.nkeys = 1;
  std::memcpy(sel, &hdr, sizeof hdr);
  m.attr(TCA_U32_SEL, sel, sizeof sel);
  const size_t acts = m.begin(TCA_U32_ACT);
  const size_t act = m.begin(1);  // the first (only) action
  m.attr(TCA_ACT_KIND, std::string("mirred"));
  const size_t aopts = m.begin(TCA_ACT_OPTIONS);
  tc_mirred mirred{};
  mirred.action = TC_ACT_STOLEN;
  mirred.eaction = TCA_EGRESS_REDIR;
  mirred.ifindex = static_cast<uint32_t>(to);
  m.attr(TCA_MIRRED_PARMS, &mirred, sizeof mirred);
  m.end(aopts);
  m.end(act);
  m.end(acts);
  m.end(opts);
  nl.request(m, what);
}

// ---- the interfaces, by ioctl ---------------------------------------------

ifreq ifr_of(const std::string& name) {
  ifreq r{};
  std::strncpy(r.ifr_name, name.c_str(), IFNAMSIZ - 1);
  return r;
}

std::string mac_of(int sock, const std::string& dev) {
  ifreq r = ifr_of(dev);
  if (::ioctl(sock, SIOCGIFHWADDR, &r) < 0) pod::throw_sys("cannot read the MAC address of " + dev);
  const auto* b = reinterpret_cast<const unsigned char*>(r.ifr_hwaddr.sa_data);
  char s[18];
  std::snprintf(s, sizeof s, "%02x:%02x:%02x:%02x:%02x:%02x", b[0], b[1], b[2], b[3], b[4], b[5]);
  return s;
}

int mtu_of(int sock, const std::string& dev) {
  ifreq r = ifr_of(dev);
  if (::ioctl(sock, SIOCGIFMTU, &r) < 0) pod::throw_sys("cannot read the MTU of " + dev);
  return r.ifr_mtu;
}

void set_mtu_up(int sock, const std::string& dev, int mtu) {
  ifreq r = ifr_of(dev);
  r.ifr_mtu = mtu;
  if (::ioctl(sock, SIOCSIFMTU, &r) < 0) pod::throw_sys("cannot set the MTU of " + dev);
  r = ifr_of(dev);
  if (::ioctl(sock, SIOCGIFFLAGS, &r) < 0) pod::throw_sys("cannot read the flags of " + dev);
  r.ifr_flags |= IFF_UP;
  if (::ioctl(sock, SIOCSIFFLAGS, &r) < 0) pod::throw_sys("cannot bring up " + dev);
}

// A tap device (not persistent: it lives as long as an fd of it is open).
UniqueFd make_tap(const std::string& name) {
  UniqueFd fd(::open("/dev/net/tun", O_RDWR | O_CLOEXEC));
  if (!fd) pod::throw_sys("cannot open /dev/net/tun");
  ifreq r = ifr_of(name);
  r.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
  if (::ioctl(fd.get(), TUNSETIFF, &r) < 0) pod::throw_sys("cannot create the tap device " + name);
  return fd;
}

int prefix_of(const sockaddr* mask) {
  if (mask->sa_family == AF_INET6) {
    int bits = 0;
    for (uint8_t b : reinterpret_cast<const sockaddr_in6*>(mask)->sin6_addr.s6_addr) bits += __builtin_popcount(b);
    return bits;
  }
  const uint32_t m = ntohl(reinterpret_cast<const sockaddr_in*>(mask)->sin_addr.s_addr);
  return __builtin_popcount(m);
}

std::string ntop(int af, const void* a) {
  char s[INET6_ADDRSTRLEN];
  return ::inet_ntop(af, a, s, sizeof s) ? s : "?";
}

// The IPv4 addresses of `dev` (its own and its aliases "dev:N"), then its IPv6
// ones but the link-local (the guest's NIC, with the same MAC, makes the same).
std::vector<std::string> addresses_of(const std::string& dev) {
  ifaddrs* all = nullptr;
  if (::getifaddrs(&all) < 0) pod::throw_sys("cannot list the addresses in the pod's network namespace");
  std::vector<std::string> out, v6;
  for (ifaddrs* a = all; a; a = a->ifa_next) {
    const std::string name = a->ifa_name ? a->ifa_name : "";
    if (!a->ifa_addr || !a->ifa_netmask || (name != dev && name.rfind(dev + ":", 0) != 0)) continue;
    if (a->ifa_addr->sa_family == AF_INET) {
      out.push_back(ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(a->ifa_addr)->sin_addr) + "/" +
                    std::to_string(prefix_of(a->ifa_netmask)));
    } else if (a->ifa_addr->sa_family == AF_INET6) {
      const auto* in6 = &reinterpret_cast<sockaddr_in6*>(a->ifa_addr)->sin6_addr;
      if (!IN6_IS_ADDR_LINKLOCAL(in6)) v6.push_back(ntop(AF_INET6, in6) + "/" + std::to_string(prefix_of(a->ifa_netmask)));
    }
  }
  ::freeifaddrs(all);
  out.insert(out.end(), v6.begin(), v6.end());
  return out;
}

// In another network namespace for the life of the object (this thread).
class InNetns {
 public:
  explicit InNetns(const std::string& path) : own_(::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC)) {
    if (!own_) pod::throw_sys("cannot open our network namespace");
    UniqueFd ns(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!ns) pod::throw_sys("cannot open " + path);
    if (::setns(ns.get(), CLONE_NEWNET) < 0) pod::throw_sys("cannot enter the network namespace " + path);
  }
  ~InNetns() {
    if (::setns(own_.get(), CLONE_NEWNET) < 0) {
      std::perror("stage1-kvm: cannot return to our network namespace");
      std::abort();  // nothing we would do next could be trusted
    }
  }
  InNetns(const InNetns&) = delete;
  InNetns& operator=(const InNetns&) = delete;

 private:
  UniqueFd own_;
};

}  // namespace

std::vector<GuestRoute> parse_proc_routes(const std::string& text, const std::string& ifname) {
  std::vector<GuestRoute> out;
  std::istringstream in(text);
  std::string line;
  std::getline(in, line);  // the header
  while (std::getline(in, line)) {
    char dev[IFNAMSIZ + 1];
    unsigned dst, gw, flags, refcnt, use, metric, mask;
    if (std::sscanf(line.c_str(), "%16s %x %x %x %u %u %u %x", dev, &dst, &gw, &flags, &refcnt, &use, &metric,
                    &mask) != 8)
      continue;
    if (ifname != dev || !(flags & RTF_UP)) continue;
    GuestRoute r;
    in_addr a{dst};
    r.dst = ntop(AF_INET, &a);
    r.prefix = __builtin_popcount(mask);
    if (flags & RTF_GATEWAY) {
      in_addr g{gw};
      r.gw = ntop(AF_INET, &g);
    }
    r.metric = static_cast<int>(metric);
    out.push_back(r);
  }
  return out;
}

std::vector<GuestRoute> parse_proc_ipv6_routes(const std::string& text, const std::string& ifname) {
  constexpr unsigned kLocal = 0x80000000u, kCache = 0x01000000u;  // RTF_LOCAL, RTF_CACHE (linux/ipv6_route.h)
  std::vector<GuestRoute> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    char dst[33], src[33], gw[33], dev[IFNAMSIZ + 1];
    unsigned dst_len, src_len, metric, refcnt, use, flags;
    if (std::sscanf(line.c_str(), "%32s %x %32s %x %32s %x %x %x %x %16s", dst, &dst_len, src, &src_len, gw, &metric,
                    &refcnt, &use, &flags, dev) != 10)
      continue;
    if (ifname != dev || !(flags & RTF_UP) || (flags & (kLocal | kCache)) || dst_len > 128) continue;
    auto addr = [](const char* hex) {
      in6_addr a{};
      for (int i = 0; i < 16; ++i) {
        unsigned b = 0;
        std::sscanf(hex + 2 * i, "%2x", &b);
        a.s6_addr[i] = static_cast<uint8_t>(b);
      }
      return a;
    };
    const in6_addr d = addr(dst);
    // What the guest's kernel makes itself for the NIC: the link-local prefix and multicast.
    if ((IN6_IS_ADDR_LINKLOCAL(&d) && dst_len == 64) || (IN6_IS_ADDR_MULTICAST(&d) && dst_len == 8)) continue;
    GuestRoute r;
    r.dst = ntop(AF_INET6, &d);
    r.prefix = static_cast<int>(dst_len);
    if (flags & RTF_GATEWAY) {
      const in6_addr g = addr(gw);
      r.gw = ntop(AF_INET6, &g);
    }
    r.metric = static_cast<int>(metric);
    out.push_back(r);
  }
  return out;
}

std::vector<GuestNic> connect_taps(const std::string& netns_path, const std::vector<CniInterface>& ifaces) {
  std::vector<GuestNic> nics;
  InNetns in(netns_path);
  UniqueFd sock(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!sock) pod::throw_sys("socket");
  Rtnl nl;
  const std::string routes = pod::read_file_at(AT_FDCWD, "/proc/thread-self/net/route");
  const std::string routes6 = pod::try_read_file_at(AT_FDCWD, "/proc/thread-self/net/ipv6_route").value_or("");
  for (size_t i = 0; i < ifaces.size(); ++i) {
    GuestNic n;
    n.network = ifaces[i].network;
    n.ifname = ifaces[i].ifname;
    n.tap = "pod-tap" + std::to_string(i);
    try {
      const int cni_index = static_cast<int>(::if_nametoindex(n.ifname.c_str()));
      if (cni_index == 0) pod::throw_sys("no interface " + n.ifname + " in the pod's network namespace");
      n.mac = mac_of(sock.get(), n.ifname);
      n.mtu = mtu_of(sock.get(), n.ifname);
      n.addresses = addresses_of(n.ifname);
      if (n.addresses.empty()) throw pod::Error(n.ifname + " has no IP address");
      n.routes = parse_proc_routes(routes, n.ifname);
      for (auto& r : parse_proc_ipv6_routes(routes6, n.ifname)) n.routes.push_back(std::move(r));
      n.tap_fd = make_tap(n.tap);
      set_mtu_up(sock.get(), n.tap, n.mtu);
      const int tap_index = static_cast<int>(::if_nametoindex(n.tap.c_str()));
      if (tap_index == 0) pod::throw_sys("the tap device " + n.tap + " vanished");
      add_ingress_qdisc(nl, cni_index, n.ifname);
      add_ingress_qdisc(nl, tap_index, n.tap);
      redirect_all(nl, cni_index, tap_index, "cannot redirect " + n.ifname + " to " + n.tap);
      redirect_all(nl, tap_index, cni_index, "cannot redirect " + n.tap + " to " + n.ifname);
    } catch (const pod::Error& e) {
      throw e.with_context("network " + n.network);
    }
    nics.push_back(std::move(n));
  }
  return nics;
}

nlohmann::json guest_nics_json(const std::vector<GuestNic>& nics) {
  nlohmann::json a = nlohmann::json::array();
  for (const auto& n : nics) {
    nlohmann::json routes = nlohmann::json::array();
    for (const auto& r : n.routes) {
      nlohmann::json j = {{"dst", r.dst + "/" + std::to_string(r.prefix)}, {"metric", r.metric}};
      if (!r.gw.empty()) j["gateway"] = r.gw;
      routes.push_back(j);
    }
    a.push_back({{"network", n.network}, {"mac", n.mac}, {"mtu", n.mtu}, {"addresses", n.addresses},
                 {"routes", routes}});
  }
  return a;
}

}  // namespace podkvm
