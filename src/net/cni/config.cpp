#include "net/cni/config.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <map>

#include "contract/jsonread.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"

namespace pod::cni {

namespace {

using nlohmann::json;
using contract::Field;

const std::vector<std::string> kVersions = {"0.3.0", "0.3.1", "0.4.0", "1.0.0"};

// Every piece of s between separators, empty ones included ("" gives one).
std::vector<std::string> split_all(const std::string& s, char sep) {
  std::vector<std::string> out;
  size_t i = 0;
  for (size_t j; (j = s.find(sep, i)) != std::string::npos; i = j + 1) out.push_back(s.substr(i, j - i));
  out.push_back(s.substr(i));
  return out;
}

bool valid_network_name(const std::string& n) {
  if (n.empty() || n.size() > 128 || !std::isalnum(static_cast<unsigned char>(n[0]))) return false;
  return std::all_of(n.begin(), n.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-';
  });
}

bool valid_plugin_type(const std::string& t) {
  return !t.empty() && t.find('/') == std::string::npos && t != "." && t != "..";
}

// The built-in networks (Documentation/networking.md). ptp gives each pod a
// veth pair and a /32 route; host-local hands out the addresses.
json ptp_network(const std::string& name, const std::string& subnet, bool outside) {
  json ipam = {{"type", "host-local"}, {"ranges", json::array({json::array({{{"subnet", subnet}}})})}};
  if (outside) ipam["routes"] = json::array({{{"dst", "0.0.0.0/0"}}});
  json ptp = {{"type", "ptp"}, {"ipMasq", outside}, {"ipam", ipam}};
  json portmap = {{"type", "portmap"}, {"capabilities", {{"portMappings", true}}}, {"snat", true}};
  return {{"cniVersion", "1.0.0"}, {"name", name}, {"plugins", json::array({ptp, portmap})}};
}

std::vector<NetworkList> builtins() {
  std::vector<NetworkList> v;
  for (const auto& [name, subnet, outside] :
       {std::tuple{"default", "172.16.28.0/24", true}, std::tuple{"default-restricted", "172.16.29.0/24", false}})
    v.push_back({name, "1.0.0", kBuiltin, ptp_network(name, subnet, outside)});
  return v;
}

void check_plugin_object(const Field& p) {
  p.require_object();
  const std::string type = p.key("type").str();
  if (!valid_plugin_type(type)) p.key("type").fail("\"" + type + "\" is not a plugin name");
  if (p.has("ipam")) {
    Field ipam = p.key("ipam");
    ipam.require_object();
    if (ipam.has("type") && !valid_plugin_type(ipam.key("type").str()))
      ipam.key("type").fail("\"" + ipam.key("type").str() + "\" is not a plugin name");
  }
}

struct Addr {
  int family = 0;
  unsigned char bytes[16] = {};
  int prefix = 0;
};

Addr parse_cidr(const std::string& cidr) {
  Addr a;
  const auto slash = cidr.find('/');
  if (slash == std::string::npos) throw invalid_error("\"" + cidr + "\" is not a CIDR (ADDRESS/PREFIX)");
  const std::string ip = cidr.substr(0, slash), len = cidr.substr(slash + 1);
  if (::inet_pton(AF_INET, ip.c_str(), a.bytes) == 1) a.family = AF_INET;
  else if (::inet_pton(AF_INET6, ip.c_str(), a.bytes) == 1) a.family = AF_INET6;
  else throw invalid_error("\"" + cidr + "\" is not a CIDR: bad address");
  const int max = a.family == AF_INET ? 32 : 128;
  if (len.empty() || len.size() > 3 || !std::all_of(len.begin(), len.end(), ::isdigit) || std::stoi(len) > max)
    throw invalid_error("\"" + cidr + "\" is not a CIDR: bad prefix length");
  a.prefix = std::stoi(len);
  return a;
}

}  // namespace

namespace {
NetworkList parse_network_fields(const std::string& text, const std::string& source) {
  const json j = contract::parse_json(text, source, 1 << 20);
  Field root(source, j);
  root.require_object();
  NetworkList n;
  n.source = source;
  n.name = root.key("name").str();
  if (!valid_network_name(n.name) || n.name == "host" || n.name == "none")
    root.key("name").fail("\"" + n.name + "\" is not a valid network name (letters, digits, _ . -; not host or none)");
  n.cni_version = root.key("cniVersion").str();
  if (std::find(kVersions.begin(), kVersions.end(), n.cni_version) == kVersions.end())
    root.key("cniVersion").fail("\"" + n.cni_version + "\" is not supported (0.3.0, 0.3.1, 0.4.0 or 1.0.0)");
  if (j.contains("plugins")) {
    Field plugins = root.key("plugins");
    if (!plugins.value().is_array() || plugins.size() == 0) plugins.fail("must be a non-empty list of plugins");
    for (size_t i = 0; i < plugins.size(); ++i) check_plugin_object(plugins.at(i));
    n.conflist = j;
  } else {
    // A single plugin conf: the plugin is the whole object (as libcni does).
    check_plugin_object(root);
    json plugin = j;
    plugin.erase("name");
    plugin.erase("cniVersion");
    n.conflist = {{"cniVersion", n.cni_version}, {"name", n.name}, {"plugins", json::array({plugin})}};
  }
  if (root.has("disableCheck")) (void)root.key("disableCheck").boolean_or(false);
  return n;
}
}  // namespace

NetworkList parse_network(const std::string& text, const std::string& source) {
  try {
    return parse_network_fields(text, source);
  } catch (const Error& e) {
    // The readers say "<doc>.<field>: …"; for a file, "<file>: <field>: …".
    const std::string m = e.what();
    if (m.rfind(source + ".", 0) == 0) throw invalid_error(source + ": " + m.substr(source.size() + 1));
    throw;
  }
}

std::vector<std::string> plugin_path() {
  std::vector<std::string> path;
  if (const char* env = std::getenv("POD_CNI_PATH"))
    for (const auto& d : split_all(env, ':'))
      if (!d.empty()) path.push_back(d);
  path.push_back(kDefaultPluginDir);
  return path;
}

std::string find_plugin(const std::string& type, const std::vector<std::string>& path) {
  if (!valid_plugin_type(type)) return "";
  for (const auto& d : path) {
    std::string p = d + "/" + type;
    if (::access(p.c_str(), X_OK) == 0) return p;
  }
  return "";
}

void check_plugins(const NetworkList& n, const std::vector<std::string>& path) {
  std::string dirs;
  for (const auto& d : path) dirs += (dirs.empty() ? "" : ":") + d;
  const json& plugins = n.conflist["plugins"];
  for (size_t i = 0; i < plugins.size(); ++i) {
    const std::string field = "plugins[" + std::to_string(i) + "]";
    const std::string type = plugins[i]["type"].get<std::string>();
    if (find_plugin(type, path).empty())
      throw invalid_error(n.source + ": " + field + ".type: unknown plugin \"" + type + "\" (no executable " + type +
                          " in " + dirs + ")");
    if (plugins[i].contains("ipam") && plugins[i]["ipam"].contains("type")) {
      const std::string ipam = plugins[i]["ipam"]["type"].get<std::string>();
      if (find_plugin(ipam, path).empty())
        throw invalid_error(n.source + ": " + field + ".ipam.type: unknown plugin \"" + ipam + "\" (no executable " +
                            ipam + " in " + dirs + ")");
    }
  }
}

Catalog Catalog::load(const std::vector<std::string>& dirs) {
  Catalog c;
  c.nets_ = builtins();
  for (const auto& dir : dirs) {
    UniqueFd d = try_open_dir_at(AT_FDCWD, dir);
    if (!d) continue;
    std::vector<std::string> files = list_dir(d.get());
    std::sort(files.begin(), files.end());
    std::map<std::string, std::string> seen;  // name -> file, in this dir
    for (const auto& f : files) {
      const auto dot = f.rfind('.');
      const std::string ext = dot == std::string::npos ? "" : f.substr(dot);
      if (ext != ".conf" && ext != ".conflist" && ext != ".json") continue;
      const std::string path = dir + "/" + f;
      NetworkList n = parse_network(read_file_at(d.get(), f, 1 << 20), path);
      if (auto [it, fresh] = seen.emplace(n.name, path); !fresh)
        throw invalid_error(path + ": name: network \"" + n.name + "\" is also defined by " + it->second);
      auto old = std::find_if(c.nets_.begin(), c.nets_.end(), [&](const NetworkList& x) { return x.name == n.name; });
      if (old != c.nets_.end()) *old = std::move(n);
      else c.nets_.push_back(std::move(n));
    }
  }
  return c;
}

const NetworkList* Catalog::find(const std::string& name) const {
  for (const auto& n : nets_)
    if (n.name == name) return &n;
  return nullptr;
}

std::vector<std::string> config_dirs(const std::string& data_dir, const std::vector<std::string>& extra) {
  std::vector<std::string> dirs = {kSystemNetDir};
  dirs.insert(dirs.end(), extra.begin(), extra.end());
  if (!data_dir.empty()) dirs.push_back(data_dir + "/net.d");
  return dirs;
}

bool is_cni_net(const std::string& value) { return value != "host" && value != "none"; }

std::vector<Requested> parse_net_flag(const std::string& value) {
  if (!is_cni_net(value)) return {};
  std::vector<Requested> out;
  for (const auto& item : split_all(value, ',')) {
    Requested r;
    const auto colon = item.find(':');
    r.name = item.substr(0, colon);
    if (colon != std::string::npos) r.args = item.substr(colon + 1);
    if (r.name == "host" || r.name == "none")
      throw usage_error("--net=" + value + ": " + r.name + " cannot be combined with other networks");
    if (!valid_network_name(r.name)) throw usage_error("--net=" + value + ": \"" + r.name + "\" is not a network name");
    for (const auto& o : out)
      if (o.name == r.name) throw usage_error("--net=" + value + ": network " + r.name + " is given twice");
    // CNI_ARGS: KEY=VALUE pairs separated by ';'.
    for (const auto& kv : r.args.empty() ? std::vector<std::string>{} : split_all(r.args, ';'))
      if (kv.find('=') == std::string::npos || kv.front() == '=')
        throw usage_error("--net=" + value + ": CNI_ARGS of " + r.name + ": \"" + kv + "\" is not KEY=VALUE");
    out.push_back(std::move(r));
  }
  return out;
}

contract::PortMapping parse_publish(const std::string& value) {
  contract::PortMapping p;
  std::string s = value;
  const auto slash = s.rfind('/');
  if (slash != std::string::npos) {
    p.protocol = s.substr(slash + 1);
    s = s.substr(0, slash);
    if (p.protocol != "tcp" && p.protocol != "udp")
      throw usage_error("--publish " + value + ": protocol \"" + p.protocol + "\" is not tcp or udp");
  }
  const auto last = s.rfind(':');
  if (last == std::string::npos) throw usage_error("--publish " + value + ": expected [HOSTIP:]HOSTPORT:PODPORT[/tcp|udp]");
  std::string head = s.substr(0, last);
  const std::string pod_port = s.substr(last + 1);
  const auto mid = head.rfind(':');
  std::string host_port = head;
  if (mid != std::string::npos) {
    p.host_ip = head.substr(0, mid);
    host_port = head.substr(mid + 1);
    if (p.host_ip.size() > 2 && p.host_ip.front() == '[' && p.host_ip.back() == ']')
      p.host_ip = p.host_ip.substr(1, p.host_ip.size() - 2);
    unsigned char buf[16];
    if (::inet_pton(AF_INET, p.host_ip.c_str(), buf) != 1 && ::inet_pton(AF_INET6, p.host_ip.c_str(), buf) != 1)
      throw usage_error("--publish " + value + ": \"" + p.host_ip + "\" is not an IP address");
  }
  auto port = [&](const std::string& t, const char* what) -> uint16_t {
    if (t.empty() || t.size() > 5 || !std::all_of(t.begin(), t.end(), ::isdigit) || std::stoi(t) < 1 ||
        std::stoi(t) > 65535)
      throw usage_error("--publish " + value + ": " + what + " \"" + t + "\" is not a port (1-65535)");
    return static_cast<uint16_t>(std::stoi(t));
  };
  p.host_port = port(host_port, "host port");
  p.pod_port = port(pod_port, "pod port");
  return p;
}

std::vector<Subnet> subnets_of(const NetworkList& n) {
  std::vector<Subnet> out;
  const json& plugins = n.conflist["plugins"];
  for (size_t i = 0; i < plugins.size(); ++i) {
    if (!plugins[i].contains("ipam") || !plugins[i]["ipam"].is_object()) continue;
    const json& ipam = plugins[i]["ipam"];
    const std::string base = "plugins[" + std::to_string(i) + "].ipam";
    Field f(n.source, plugins[i]);
    if (ipam.contains("subnet")) out.push_back({Field(n.source + ": " + base + ".subnet", ipam["subnet"]).str(), base + ".subnet"});
    if (!ipam.contains("ranges")) continue;
    const json& ranges = ipam["ranges"];
    if (!ranges.is_array()) throw invalid_error(n.source + ": " + base + ".ranges: must be a list of range sets");
    for (size_t r = 0; r < ranges.size(); ++r) {
      if (!ranges[r].is_array()) throw invalid_error(n.source + ": " + base + ".ranges[" + std::to_string(r) + "]: must be a list of ranges");
      for (size_t k = 0; k < ranges[r].size(); ++k) {
        const std::string field = base + ".ranges[" + std::to_string(r) + "][" + std::to_string(k) + "].subnet";
        const json& s = ranges[r][k].is_object() && ranges[r][k].contains("subnet") ? ranges[r][k]["subnet"] : json();
        if (!s.is_string()) throw invalid_error(n.source + ": " + field + ": expected a CIDR string");
        out.push_back({s.get<std::string>(), field});
      }
    }
  }
  for (const auto& s : out) {
    try {
      parse_cidr(s.cidr);
    } catch (const Error& e) {
      throw invalid_error(n.source + ": " + s.field + ": " + e.what());
    }
  }
  return out;
}

bool cidr_overlap(const std::string& a_text, const std::string& b_text) {
  const Addr a = parse_cidr(a_text), b = parse_cidr(b_text);
  if (a.family != b.family) return false;
  const int bits = std::min(a.prefix, b.prefix);
  for (int i = 0; i < bits; ++i) {
    const int byte = i / 8, mask = 0x80 >> (i % 8);
    if ((a.bytes[byte] & mask) != (b.bytes[byte] & mask)) return false;
  }
  return true;
}

std::vector<contract::NetworkAttachment> resolve(const std::string& net_value, const Catalog& catalog,
                                                 const std::vector<std::string>& path,
                                                 const std::vector<contract::PortMapping>& ports) {
  std::vector<contract::NetworkAttachment> out;
  std::vector<const NetworkList*> lists;
  for (const auto& r : parse_net_flag(net_value)) {
    const NetworkList* n = catalog.find(r.name);
    if (!n) {
      std::string known;
      for (const auto& x : catalog.networks()) known += (known.empty() ? "" : ", ") + x.name;
      throw not_found_error("--net: no network named \"" + r.name + "\" (known: " + known + ")");
    }
    check_plugins(*n, path);
    const auto mine = subnets_of(*n);
    for (const NetworkList* other : lists)
      for (const auto& s : subnets_of(*other))
        for (const auto& m : mine)
          if (cidr_overlap(s.cidr, m.cidr))
            throw invalid_error(n->source + ": " + m.field + ": subnet " + m.cidr + " of network " + n->name +
                                " overlaps subnet " + s.cidr + " of network " + other->name + " (" + other->source +
                                ": " + s.field + ")");
    lists.push_back(n);
    contract::NetworkAttachment a;
    a.name = n->name;
    a.ifname = "eth" + std::to_string(out.size());
    a.args = r.args;
    a.source = n->source;
    a.conflist = n->conflist;
    out.push_back(std::move(a));
  }
  if (ports.empty()) {
    // The built-ins' portmap has nothing to do without ports but costs an
    // ADD and a DEL (iptables calls): left out of a pod that publishes none.
    for (auto& a : out)
      if (a.source == kBuiltin) {
        json& plugins = a.conflist["plugins"];
        plugins.erase(std::remove_if(plugins.begin(), plugins.end(),
                                     [](const json& p) { return p.value("type", "") == "portmap"; }),
                      plugins.end());
      }
    return out;
  }
  for (auto& a : out)
    for (const auto& p : a.conflist["plugins"])
      if (p.contains("capabilities") && p["capabilities"].value("portMappings", false)) {
        a.ports = ports;
        return out;
      }
  throw usage_error("published ports need a network with the portmap plugin (capabilities {\"portMappings\": true}); " +
                    std::string(out.empty() ? "the pod joins no CNI network (--net=" + net_value + ")"
                                            : "none of --net=" + net_value + " has one"));
}

}  // namespace pod::cni
