// The networks of a pod for status and list: what runtime.json asked for and
// net.json (src/net/cni/podnet.hpp) says the stage1 got.
#include "api/netinfo.hpp"

#include "contract/poddir.hpp"
#include "api/impl.hpp"
#include "net/cni/config.hpp"
#include "net/cni/plugin.hpp"
#include "net/cni/podnet.hpp"
#include "run/prepare.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"

namespace pod::api {

namespace {
std::string port_text(const contract::PortMapping& p) {
  return (p.host_ip.empty() ? "" : p.host_ip + ":") + std::to_string(p.host_port) + "->" + std::to_string(p.pod_port) +
         "/" + p.protocol;
}
}  // namespace

void add_rootfs_info(const Pod& pod, PodStatus& s) {
  auto line = [&](const char* file) {
    std::string v = try_read_file_at(pod.fd(), file, 4096).value_or("");
    while (!v.empty() && v.back() == '\n') v.pop_back();
    return v;
  };
  s.rootfs_mode = line(poddir::kRootfsMode);
  s.user_namespace = line(poddir::kUserNamespace);
}

void add_networks(const Pod& pod, PodStatus& s) {
  try {
    const contract::Runtime rt = run::read_runtime(pod);
    s.net = rt.net;
    const cni::NetState st = cni::read_state(pod.fd());
    for (const auto& n : rt.networks) {
      PodNetworkInfo info{n.name, n.ifname, "", {}, {}, ""};
      for (const auto& p : n.ports) info.ports.push_back(port_text(p));
      for (const auto& j : st.networks) {
        if (j.name != n.name || j.ifname != n.ifname) continue;
        info.state = j.state;  // the last entry is this run's (a restart keeps the earlier run's, deleted)
        info.ips.clear();
        if (j.result.is_null()) continue;
        const cni::Result r = cni::parse_result(j.result, "net.json: network " + n.name);
        for (const auto& ip : r.ips) info.ips.push_back(ip.address);
      }
      s.networks.push_back(std::move(info));
    }
    if (rt.net == contract::kNetPasta) {  // a rootless pod's user-mode network: its published ports
      PodNetworkInfo info{rt.net, "eth0", "", {}, {}, ""};
      for (const auto& p : rt.publish) info.ports.push_back(port_text(p));
      s.networks.push_back(std::move(info));
    }
  } catch (const Error& e) {
    s.network_error = e.what();
  }
}

void check_networks(const Pod& pod, PodStatus& s) {
  const contract::Runtime rt = run::read_runtime(pod);
  for (const auto& o : cni::check({pod.fd(), fd_path(pod.fd()), pod.uuid(), -1}, rt.networks))
    for (auto& info : s.networks)
      if (info.name == o.name && info.ifname == o.ifname) info.check = o.error.empty() ? "ok" : o.error;
}

}  // namespace pod::api

namespace pod {

void Runtime::check_network(const std::string& net, const std::vector<std::string>& net_config_dirs) const {
  api::guarded([&] {
    if (!cni::is_cni_net(net)) return;
    const auto catalog = cni::Catalog::load(cni::config_dirs(impl_->store.path(), net_config_dirs));
    cni::resolve(net, catalog, cni::plugin_path(), {});
  });
}

}  // namespace pod
