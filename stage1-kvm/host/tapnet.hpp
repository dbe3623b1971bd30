// The kvm flavour on CNI networks (Documentation/stage1-kvm.md, "Networks"),
// as Kata Containers does it with its default "tcfilter" model: the CNI
// plugins configure an interface (eth0) in the pod's network namespace
// ($P/netns) as for any flavour; here a tap device is made next to it, and
// tc redirects every frame that arrives on one to the other (an ingress
// qdisc with a match-all u32 filter and a mirred egress-redirect action, on
// both). qemu gets the tap as an fd and gives the guest a virtio-net NIC with
// the CNI interface's MAC address; the guest sets the interface's addresses
// and routes, read here from the netns, so the VM *is* the pod at the pod's IP.
//
// Nothing here needs cleaning up: the taps are not persistent (they go away
// with the last fd, qemu's), and the filters go with the interfaces, which
// CNI DEL removes with the namespace.
#pragma once
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "util/fd.hpp"

namespace podkvm {

// One route of the main table, as /proc/net/route (IPv4) or /proc/net/ipv6_route shows it.
struct GuestRoute {
  std::string dst;  // network address
  int prefix = 0;
  std::string gw;   // "" = on-link
  int metric = 0;
};

// One NIC of the guest: what the CNI interface it stands for has.
struct GuestNic {
  std::string network, ifname;  // the CNI network and its interface in the netns
  std::string tap;              // the tap device beside it
  std::string mac;              // aa:bb:cc:dd:ee:ff, the CNI interface's
  int mtu = 1500;
  std::vector<std::string> addresses;  // CIDRs: IPv4 first, then IPv6 (not link-local)
  std::vector<GuestRoute> routes;
  pod::UniqueFd tap_fd;         // the tap's queue, for qemu (-netdev tap,fd=N)
};

struct CniInterface {
  std::string network, ifname;
};

// In the network namespace at `netns_path`: a tap per CNI interface, joined
// to it both ways by tc. Throws pod::Error naming the interface and the step.
std::vector<GuestNic> connect_taps(const std::string& netns_path, const std::vector<CniInterface>& ifaces);

// The routes of `ifname` in the text of /proc/net/route (pure; unit-tested).
std::vector<GuestRoute> parse_proc_routes(const std::string& text, const std::string& ifname);

// The IPv6 routes of `ifname` in the text of /proc/net/ipv6_route, without the
// local table's, the cache's and those the guest's kernel makes for the NIC
// itself (fe80::/64, ff00::/8) (pure; unit-tested).
std::vector<GuestRoute> parse_proc_ipv6_routes(const std::string& text, const std::string& ifname);

// guest.json's "nics": what the guest sets (stage1-kvm/guest/net.hpp).
nlohmann::json guest_nics_json(const std::vector<GuestNic>& nics);

}  // namespace podkvm
