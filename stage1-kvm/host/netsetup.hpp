// The pod's CNI networks for the kvm run entrypoint: the netns and the ADDs
// (src/net/cni/podnet.hpp, as every flavour), then a tap per CNI interface
// (tapnet.hpp) for qemu, and the pod's resolv.conf from the results. Left
// (DEL, netns removed) by leave() or the destructor; after a kill -9 the gc
// entrypoint does it from net.json.
#pragma once
#include <string>
#include <vector>

#include "contract/runtime.hpp"
#include "net/cni/podnet.hpp"
#include "tapnet.hpp"

namespace podkvm {

class KvmNetworks {
 public:
  // Joins rt.networks (nothing when there are none). A failure leaves what was
  // joined again and throws.
  KvmNetworks(const pod::cni::Place& place, const pod::contract::Runtime& rt);
  ~KvmNetworks() { leave(); }
  KvmNetworks(const KvmNetworks&) = delete;
  KvmNetworks& operator=(const KvmNetworks&) = delete;

  bool joined() const { return !rt_.networks.empty(); }
  std::vector<GuestNic>& nics() { return nics_; }
  // What the pod's resolv.conf says: the networks' DNS, else (and with
  // --dns=host) the host's.
  const std::string& resolv_conf() const { return resolv_; }
  // CNI DEL of every network, the netns removed; a failure is reported
  // (the gc entrypoint retries), not thrown. Idempotent.
  void leave();

 private:
  pod::cni::Place place_;
  const pod::contract::Runtime& rt_;
  std::vector<GuestNic> nics_;
  std::string resolv_;
  bool left_ = false;
};

}  // namespace podkvm
