#include "netsetup.hpp"

#include <fcntl.h>

#include "hostutil.hpp"
#include "util/crashpoint.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"

namespace podkvm {

KvmNetworks::KvmNetworks(const pod::cni::Place& place, const pod::contract::Runtime& rt) : place_(place), rt_(rt) {
  if (rt.networks.empty()) {
    left_ = true;
    return;
  }
  try {
    pod::cni::create_netns(place_);
    const pod::cni::NetState st = pod::cni::attach(place_, rt.networks);
    std::vector<CniInterface> ifaces;
    for (const auto& n : st.networks)  // this run's: net.json keeps an earlier run's, "deleted" (restart)
      if (n.state == "added") ifaces.push_back({n.name, n.ifname});
    nics_ = connect_taps(place_.netns_path(), ifaces);
    pod::crashpoint("kvm:taps-connected");
    // As the other flavours (stage1/supervise.cpp): --dns=host is the host's
    // file; else the networks' DNS, else the host's.
    const bool host_dns = rt.dns.size() == 1 && rt.dns[0] == "host";
    if (!host_dns) resolv_ = pod::cni::resolv_conf_from(st);
    if (resolv_.empty()) resolv_ = pod::try_read_file_at(AT_FDCWD, "/etc/resolv.conf", 65536).value_or("");
  } catch (const pod::Error&) {
    leave();
    throw;
  }
}

void KvmNetworks::leave() {
  if (left_) return;
  left_ = true;
  nics_.clear();  // our tap fds: the taps go when qemu's are closed too
  try {
    pod::cni::teardown(place_, rt_.networks);
  } catch (const pod::Error& e) {
    warn(std::string(e.what()) + " (pod gc will retry)");
  }
}

}  // namespace podkvm
