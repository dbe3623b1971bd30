// CNI network configurations (Documentation/networking.md): the built-in
// networks, conf and conflist files (CNI spec 0.3.x, 0.4.0, 1.0.0) from the
// configuration dirs, their validation (errors name the file and the field),
// and the resolution of a --net value into the networks a pod joins.
#pragma once
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "contract/runtime.hpp"

namespace pod::cni {

inline constexpr const char* kSystemNetDir = "/etc/pod/net.d";
inline constexpr const char* kDefaultPluginDir = "/usr/lib/cni";
inline constexpr const char* kBuiltin = "built-in";

// A network: a conflist, canonical ({"cniVersion", "name", "plugins": [...]}),
// and where it came from (a file path or "built-in").
struct NetworkList {
  std::string name, cni_version, source;
  nlohmann::json conflist;
};

// Parse one file's text: a conflist (has "plugins") or a single plugin conf,
// which becomes a conflist of one. Errors: "<source>: <field>: <what>".
NetworkList parse_network(const std::string& text, const std::string& source);

// The plugin search path: $POD_CNI_PATH (colon-separated) first, then /usr/lib/cni.
std::vector<std::string> plugin_path();
// The plugin binary for `type` in `path`, or "" when there is none.
std::string find_plugin(const std::string& type, const std::vector<std::string>& path);
// Every plugin of the list (and its ipam plugin) must exist in `path`.
void check_plugins(const NetworkList& n, const std::vector<std::string>& path);

// The networks a pod can join: the built-ins, then the *.conf, *.conflist
// and *.json files of each dir in order (a later network of the same name
// replaces an earlier one; two files naming one network in a dir is an error).
class Catalog {
 public:
  static Catalog load(const std::vector<std::string>& dirs);
  const NetworkList* find(const std::string& name) const;
  const std::vector<NetworkList>& networks() const { return nets_; }

 private:
  std::vector<NetworkList> nets_;
};

// The configuration dirs: /etc/pod/net.d, then `extra` (networks.configDirs) in order, then
// <data dir>/net.d; a later dir's network of a name replaces an earlier one's.
std::vector<std::string> config_dirs(const std::string& data_dir, const std::vector<std::string>& extra = {});

// One entry of --net: NAME[:CNI_ARGS].
struct Requested {
  std::string name, args;
};
// "host" and "none" give {}; otherwise the comma-separated list. Usage errors name --net.
std::vector<Requested> parse_net_flag(const std::string& value);
bool is_cni_net(const std::string& value);  // not host or none

// --publish [HOSTIP:]HOSTPORT:PODPORT[/tcp|udp]
contract::PortMapping parse_publish(const std::string& value);

// The networks of `net_value` from the catalog, validated (plugins present,
// no two networks' subnets overlapping), with interface names eth0, eth1, ….
// Ports are given to the first network with a portMappings capability (an
// error when there is none).
std::vector<contract::NetworkAttachment> resolve(const std::string& net_value, const Catalog& catalog,
                                                 const std::vector<std::string>& path,
                                                 const std::vector<contract::PortMapping>& ports);

// The subnets (CIDR text) a network's IPAM hands out, each with the field that names it.
struct Subnet {
  std::string cidr, field;
};
std::vector<Subnet> subnets_of(const NetworkList& n);
// Do two CIDRs overlap? Throws on malformed text.
bool cidr_overlap(const std::string& a, const std::string& b);

}  // namespace pod::cni
