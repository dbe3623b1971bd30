#include "contract/runtime.hpp"

#include <algorithm>

#include "contract/jsonread.hpp"
#include "util/error.hpp"

namespace pod::contract {

namespace {
constexpr const char* kDoc = "runtime.json";

bool valid_hostname(const std::string& h) {
  if (h.empty() || h.size() > 64) return false;
  for (char c : h)
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.')) return false;
  return h.front() != '-' && h.front() != '.';
}
PortMapping port_from(const Field& f) {
  PortMapping p;
  p.host_ip = f.key("hostIP").str_or("");
  p.host_port = static_cast<uint16_t>(f.key("hostPort").integer(1, 65535));
  p.pod_port = static_cast<uint16_t>(f.key("podPort").integer(1, 65535));
  p.protocol = f.key("protocol").str_or("tcp");
  if (p.protocol != "tcp" && p.protocol != "udp") f.key("protocol").fail("\"" + p.protocol + "\" is not tcp or udp");
  p.name = f.key("name").str_or("");
  return p;
}

NetworkAttachment network_from(const Field& f) {
  NetworkAttachment n;
  n.name = f.key("name").str();
  if (n.name.empty()) f.key("name").fail("must name a network");
  n.ifname = f.key("ifname").str();
  if (n.ifname.empty() || n.ifname.size() > 15 || n.ifname.find_first_of("/ :") != std::string::npos)
    f.key("ifname").fail("\"" + n.ifname + "\" is not an interface name");
  n.args = f.key("args").str_or("");
  n.source = f.key("source").str_or("");
  Field conf = f.key("conflist");
  conf.require_object();
  if (!conf.value().contains("plugins") || !conf.value()["plugins"].is_array() || conf.value()["plugins"].empty())
    conf.key("plugins").fail("must be a non-empty list of plugins");
  n.conflist = conf.value();
  Field ports = f.key("ports");
  for (size_t i = 0, k = ports.size(); i < k; ++i) n.ports.push_back(port_from(ports.at(i)));
  return n;
}
}  // namespace

nlohmann::json to_json(const PortMapping& p) {
  return {{"hostIP", p.host_ip}, {"hostPort", p.host_port}, {"podPort", p.pod_port}, {"protocol", p.protocol},
          {"name", p.name}};
}

Runtime runtime_from_json(const nlohmann::json& j) {
  Field root(kDoc, j);
  root.require_object();
  Runtime r;
  r.net = root.key("net").str_or(r.net);
  if (r.net.empty()) root.key("net").fail("must name a network");
  Field nets = root.key("networks");
  for (size_t i = 0, n = nets.size(); i < n; ++i) r.networks.push_back(network_from(nets.at(i)));
  Field published = root.key("publish");
  for (size_t i = 0, n = published.size(); i < n; ++i) r.publish.push_back(port_from(published.at(i)));
  if (!r.publish.empty() && r.net != kNetPasta) root.key("publish").fail("is only for net " + std::string(kNetPasta));
  if ((r.net == "host" || r.net == "none" || r.net == kNetPasta) != r.networks.empty())
    root.key("networks").fail(r.networks.empty() ? "--net=" + r.net + " needs the networks it names"
                                                 : "must be empty with net " + r.net);
  r.dns_search = root.key("dnsSearch").strings();
  r.dns_options = root.key("dnsOptions").strings();
  r.hostname = root.key("hostname").str_or("");
  if (!r.hostname.empty() && !valid_hostname(r.hostname))
    root.key("hostname").fail("\"" + r.hostname.substr(0, 80) + "\" is not a valid host name");
  r.dns = root.key("dns").strings();
  if (r.dns.size() > 1 && std::find(r.dns.begin(), r.dns.end(), "host") != r.dns.end())
    root.key("dns").fail("\"host\" (the host's resolv.conf) cannot be combined with name servers");
  Field hosts = root.key("hostsEntries");
  for (size_t i = 0, n = hosts.size(); i < n; ++i)
    r.hosts.push_back({hosts.at(i).key("ip").str(), hosts.at(i).key("host").str()});
  r.interactive = root.key("interactive").boolean_or(false);
  r.attach = root.key("attach").boolean_or(false);
  r.rootless = root.key("rootless").boolean_or(false);
  if (Field pu = root.key("privateUsers"); !pu.missing()) {
    r.private_users.base = static_cast<uint32_t>(pu.key("base").integer(1, 0xFFFFFFFEll));
    r.private_users.count = static_cast<uint32_t>(pu.key("count").integer(1, 0xFFFFFFFFll - r.private_users.base));
    if (r.rootless) pu.fail("is for root pods: a rootless pod's user namespace is the user's");
    const std::string pod_dir = pu.key("podDir").str_or("idmapped");
    if (pod_dir != "idmapped" && pod_dir != "chown") pu.key("podDir").fail("\"" + pod_dir + "\" is not idmapped or chown");
    r.private_users.chown_pod_dir = pod_dir == "chown";
  }
  r.debug = root.key("debug").boolean_or(false);
  r.notify_ready = root.key("notifyReady").str_or(r.notify_ready);
  if (r.notify_ready != "none" && r.notify_ready != "started" && r.notify_ready != "app")
    root.key("notifyReady").fail("\"" + r.notify_ready + "\" is not none, started or app");
  r.notify_apps = root.key("notifyApps").strings();
  if (!root.key("stopTimeout").missing()) r.stop_timeout_s = static_cast<int>(root.key("stopTimeout").integer(0, 86400));
  r.insecure_options = root.key("insecureOptions").strings();
  for (size_t i = 0; i < r.insecure_options.size(); ++i)
    if (const auto& o = r.insecure_options[i]; o != "seccomp" && o != "capabilities" && o != "paths")
      root.key("insecureOptions").at(i).fail("\"" + o.substr(0, 64) + "\" is not seccomp, capabilities or paths");
  r.metadata_url = root.key("metadataURL").str_or("");
  if (!r.metadata_url.empty() && r.metadata_url.rfind("http://", 0) != 0)
    root.key("metadataURL").fail("\"" + r.metadata_url.substr(0, 80) + "\" is not an http:// URL");
  Field opts = root.key("stage1Options");
  if (!opts.missing()) {
    opts.require_object();
    for (const auto& [k, v] : opts.value().items()) r.stage1_options[k] = opts.key(k.c_str()).str();
  }
  return r;
}

bool Runtime::insecure(const std::string& what) const {
  return std::find(insecure_options.begin(), insecure_options.end(), what) != insecure_options.end();
}

Runtime parse_runtime(const std::string& text) {
  if (text.empty()) return {};
  return runtime_from_json(parse_json(text, kDoc, 1 << 20));
}

nlohmann::json to_json(const Runtime& r) {
  nlohmann::json hosts = nlohmann::json::array();
  for (const auto& h : r.hosts) hosts.push_back({{"ip", h.ip}, {"host", h.host}});
  nlohmann::json nets = nlohmann::json::array();
  for (const auto& n : r.networks) {
    nlohmann::json ports = nlohmann::json::array();
    for (const auto& p : n.ports) ports.push_back(to_json(p));
    nets.push_back({{"name", n.name}, {"ifname", n.ifname}, {"args", n.args}, {"source", n.source},
                    {"conflist", n.conflist}, {"ports", ports}});
  }
  nlohmann::json j = {{"net", r.net},
                      {"networks", nets},
                      {"dnsSearch", r.dns_search},
                      {"dnsOptions", r.dns_options},
                      {"hostname", r.hostname},
                      {"dns", r.dns},
                      {"hostsEntries", hosts},
                      {"interactive", r.interactive},
                      {"attach", r.attach},
                      {"debug", r.debug},
                      {"notifyReady", r.notify_ready},
                      {"notifyApps", r.notify_apps},
                      {"stopTimeout", r.stop_timeout_s},
                      {"stage1Options", nlohmann::json::object()}};
  if (!r.metadata_url.empty()) j["metadataURL"] = r.metadata_url;
  if (r.rootless) j["rootless"] = true;
  if (r.private_users.count) {
    j["privateUsers"] = {{"base", r.private_users.base}, {"count", r.private_users.count}};
    if (r.private_users.chown_pod_dir) j["privateUsers"]["podDir"] = "chown";
  }
  if (!r.publish.empty()) {
    j["publish"] = nlohmann::json::array();
    for (const auto& p : r.publish) j["publish"].push_back(to_json(p));
  }
  for (const auto& [k, v] : r.stage1_options) j["stage1Options"][k] = v;
  if (!r.insecure_options.empty()) j["insecureOptions"] = r.insecure_options;
  return j;
}

std::string serialize(const Runtime& r) {
  nlohmann::json j = to_json(r);
  (void)runtime_from_json(j);
  try {
    return j.dump(2) + "\n";
  } catch (const nlohmann::json::type_error& e) {
    throw invalid_error(std::string(kDoc) + ": " + e.what());
  }
}

std::string stage1_option(const Runtime& r, const std::string& name, const std::string& def) {
  auto it = r.stage1_options.find(name);
  return it == r.stage1_options.end() ? def : it->second;
}

NotifyPlan notify_plan(const Runtime& r, const PodManifest& m) {
  NotifyPlan plan;
  plan.mode = r.notify_ready;
  if (plan.mode != "app") return plan;
  const std::vector<std::string> names = m.app_names();
  for (const auto& n : r.notify_apps) {
    if (std::find(names.begin(), names.end(), n) == names.end())
      throw invalid_error("runtime.json: notifyApps names \"" + n + "\", which is not an app of this pod");
    plan.apps.push_back(n);
  }
  if (plan.apps.empty()) plan.apps = names;
  return plan;
}

}  // namespace pod::contract
