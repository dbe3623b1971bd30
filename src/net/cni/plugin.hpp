// The CNI protocol (https://www.cni.dev/docs/spec/): running a plugin binary
// (command in CNI_COMMAND, the network config on stdin, the result or an
// error object on stdout), a conflist's chain of plugins with prevResult, and
// the results of spec 1.0.0 and 0.3.x/0.4.0 parsed into one type.
#pragma once
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace pod::cni {

// What a plugin is told in its environment.
struct Invocation {
  std::string command;       // ADD, DEL, CHECK, VERSION
  std::string container_id;  // CNI_CONTAINERID
  std::string netns;         // CNI_NETNS (a path)
  std::string ifname;        // CNI_IFNAME
  std::string args;          // CNI_ARGS
  std::vector<std::string> path;  // CNI_PATH, and where the binary is looked up
  int timeout_ms = 60000;    // a plugin that takes longer is killed
};

// Run the plugin `type` with `conf` on stdin. Returns what it printed, parsed
// (null when it printed nothing, as DEL and CHECK may). A failure is a
// pod::Error naming `what` and quoting the plugin's CNI error object
// ("msg: details (code N)") or, lacking one, its stderr.
nlohmann::json exec_plugin(const std::string& type, const nlohmann::json& conf, const Invocation& inv,
                           const std::string& what);

// A result, whatever its version.
struct Result {
  struct Ip {
    std::string address;  // CIDR, e.g. 172.16.28.5/24
    std::string gateway;  // "" = none
    int interface = -1;   // index into interfaces, -1 = none
  };
  struct Interface {
    std::string name, mac, sandbox;
  };
  struct Route {
    std::string dst, gw;
  };
  std::string cni_version;
  std::vector<Interface> interfaces;
  std::vector<Ip> ips;
  std::vector<Route> routes;
  std::vector<std::string> nameservers, search, options;
  std::string domain;
};
// Parse a result printed by a plugin of version 0.3.0 … 1.0.0; errors name `what`.
Result parse_result(const nlohmann::json& j, const std::string& what);
nlohmann::json to_json(const Result& r);

// The config one plugin of a conflist gets (as libcni builds it): the
// plugin's object with the list's name and cniVersion, prevResult when given,
// and runtimeConfig reduced to the capabilities the plugin declares.
nlohmann::json plugin_conf(const nlohmann::json& conflist, size_t index, const nlohmann::json& prev_result,
                           const nlohmann::json& runtime_config);

// ADD every plugin of the list in order, each getting the previous one's
// result; returns the last result (the network's).
nlohmann::json add_list(const nlohmann::json& conflist, Invocation inv, const nlohmann::json& runtime_config,
                        const std::string& what);
// DEL every plugin in reverse order, each given `prev_result` (the ADD's
// result; null when it is not known, e.g. ADD never finished). Every plugin
// is called even when one fails; the first failure is thrown at the end.
void del_list(const nlohmann::json& conflist, Invocation inv, const nlohmann::json& runtime_config,
              const nlohmann::json& prev_result, const std::string& what);
// CHECK every plugin in order (spec 0.4.0 and later; nothing for 0.3.x or disableCheck).
void check_list(const nlohmann::json& conflist, Invocation inv, const nlohmann::json& runtime_config,
                const nlohmann::json& prev_result, const std::string& what);

// The CNI versions a plugin supports (VERSION).
std::vector<std::string> plugin_versions(const std::string& type, const std::vector<std::string>& path);

}  // namespace pod::cni
