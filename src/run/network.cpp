#include "run/network.hpp"

#include "appc/image_manifest.hpp"
#include "net/cni/config.hpp"
#include "util/error.hpp"

namespace pod::run {

bool stage1_joins_cni(const nlohmann::json& stage1_manifest) {
  return appc::manifest_annotation(stage1_manifest, kAnnNetworks).value_or("") == "cni";
}

std::vector<contract::PortMapping> port_mappings(const PodSpec& spec, contract::PodManifest& m) {
  std::vector<contract::PortMapping> out;
  for (const auto& p : spec.publish) out.push_back(cni::parse_publish(p));
  for (const auto& flag : spec.ports) {
    const auto colon = flag.find(':');  // app port names have none
    const std::string name = flag.substr(0, colon == std::string::npos ? 0 : colon);
    const std::string host = colon == std::string::npos ? "" : flag.substr(colon + 1);
    // Checked through --publish's rules: [HOSTIP:]HOSTPORT:1.
    const contract::PortMapping hp = cni::parse_publish((host.empty() ? "x" : host) + ":1");
    if (name.empty()) throw usage_error("--port " + flag + ": expected NAME:[HOSTIP:]HOSTPORT");
    const contract::Port* found = nullptr;
    std::string known;
    for (const auto& a : m.apps)
      for (const auto& p : a.app.ports) {
        if (p.name == name && !found) found = &p;
        known += (known.empty() ? "" : ", ") + p.name;
      }
    if (!found)
      throw usage_error("--port " + flag + ": no app of the pod has a port named \"" + name + "\" (its ports: " +
                        (known.empty() ? "none" : known) + ")");
    if (found->protocol != "tcp" && found->protocol != "udp")
      throw usage_error("--port " + flag + ": port " + name + " is " + found->protocol + ", not tcp or udp");
    out.push_back({hp.host_ip, hp.host_port, found->port, found->protocol, name});
    m.ports.push_back({name, hp.host_port, hp.host_ip});
  }
  for (size_t i = 0; i < out.size(); ++i)
    for (size_t j = 0; j < i; ++j)
      if (out[i].host_port == out[j].host_port && out[i].protocol == out[j].protocol &&
          (out[i].host_ip == out[j].host_ip || out[i].host_ip.empty() || out[j].host_ip.empty()))
        throw usage_error("host port " + std::to_string(out[i].host_port) + "/" + out[i].protocol +
                          " is published twice");
  return out;
}

void resolve_networks(contract::Runtime& rt, const std::string& net, const std::vector<contract::PortMapping>& ports,
                      const std::string& data_dir, const nlohmann::json& stage1_manifest,
                      const std::vector<std::string>& extra_dirs) {
  const bool cni = stage1_joins_cni(stage1_manifest);
  rt.net = net.empty() ? (cni ? "default" : "host") : net;
  rt.networks.clear();
  rt.publish.clear();
  if (rt.net == contract::kNetPasta) {  // a rootless pod's user-mode network (rootless/policy.cpp checks the rest)
    rt.publish = ports;
    return;
  }
  if (cni::is_cni_net(rt.net) && !cni) {
    (void)cni::parse_net_flag(rt.net);  // a malformed value is reported as such first
    throw usage_error("--net=" + rt.net + ": stage1 " + stage1_manifest.value("name", std::string("?")) +
                      " does not join CNI networks; use --net=host or --net=none");
  }
  if (!cni::is_cni_net(rt.net)) {
    if (!ports.empty())
      throw usage_error("published ports need a CNI network with the portmap plugin, not --net=" + rt.net);
    return;
  }
  const cni::Catalog catalog = cni::Catalog::load(cni::config_dirs(data_dir, extra_dirs));
  rt.networks = cni::resolve(rt.net, catalog, cni::plugin_path(), ports);
}

}  // namespace pod::run
