// CNI configs, the --net/--publish syntax, results and the plugin protocol
// (src/net/cni). The plugins here are shell scripts in a temp dir, plus the
// real ones' VERSION when containernetworking-plugins is installed.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <doctest/doctest.h>

#include "contract/runtime.hpp"
#include "helpers.hpp"
#include "net/cni/config.hpp"
#include "net/cni/plugin.hpp"
#include "run/network.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"

using namespace pod;
using podtest::error_message;
using nlohmann::json;

namespace {

void fake_plugin(const std::string& dir, const std::string& name, const std::string& script) {
  write_file_at(AT_FDCWD, dir + "/" + name, "#!/bin/sh\n" + script, 0755);
}

const char* kBridge = R"({"cniVersion": "0.4.0", "name": "br", "plugins": [
  {"type": "bridge", "bridge": "podbr0", "ipam": {"type": "host-local", "subnet": "10.88.0.0/16"}}]})";

}  // namespace

TEST_CASE("cni: conflists and single confs parse; errors name the file and the field") {
  cni::NetworkList n = cni::parse_network(kBridge, "/x/br.conflist");
  CHECK(n.name == "br");
  CHECK(n.cni_version == "0.4.0");
  CHECK(n.conflist["plugins"][0]["type"] == "bridge");

  n = cni::parse_network(R"({"cniVersion": "1.0.0", "name": "one", "type": "ptp", "ipMasq": true})", "/x/one.conf");
  CHECK(n.conflist["name"] == "one");
  CHECK(n.conflist["plugins"].size() == 1);
  CHECK(n.conflist["plugins"][0]["type"] == "ptp");
  CHECK(n.conflist["plugins"][0]["ipMasq"] == true);
  CHECK_FALSE(n.conflist["plugins"][0].contains("name"));

  CHECK(error_message([] { cni::parse_network("{\"name\": ", "/x/bad.conflist"); }).find("/x/bad.conflist") == 0);
  CHECK(error_message([] { cni::parse_network(R"({"cniVersion": "1.0.0", "plugins": [{"type": "ptp"}]})", "/x/a"); }) ==
        "/x/a: name: is required (a string)");
  CHECK(error_message([] {
          cni::parse_network(R"({"cniVersion": "1.0.0", "name": "a", "plugins": [{"type": "ptp"}, {"mtu": 1}]})", "/x/a");
        }) == "/x/a: plugins[1].type: is required (a string)");
  CHECK(error_message([] { cni::parse_network(R"({"cniVersion": "0.2.0", "name": "a", "type": "ptp"})", "/x/a"); })
            .find("/x/a: cniVersion: \"0.2.0\" is not supported") == 0);
  CHECK(error_message([] { cni::parse_network(R"({"cniVersion": "1.0.0", "name": "host", "type": "ptp"})", "/x/a"); })
            .find("/x/a: name: \"host\" is not a valid network name") == 0);
  CHECK(error_message([] { cni::parse_network(R"({"cniVersion": "1.0.0", "name": "a", "plugins": []})", "/x/a"); }) ==
        "/x/a: plugins: must be a non-empty list of plugins");
  CHECK(error_message([] { cni::parse_network(R"({"cniVersion": "1.0.0", "name": "a", "type": "../sh"})", "/x/a"); })
            .find("/x/a: type: ") == 0);
}

TEST_CASE("cni: an unknown plugin is one with no binary in the plugin path") {
  podtest::TempDir d;
  const cni::NetworkList n = cni::parse_network(kBridge, "/x/br.conflist");
  CHECK(error_message([&] { cni::check_plugins(n, {d.path()}); }) ==
        "/x/br.conflist: plugins[0].type: unknown plugin \"bridge\" (no executable bridge in " + d.path() + ")");
  fake_plugin(d.path(), "bridge", "exit 0\n");
  CHECK(error_message([&] { cni::check_plugins(n, {d.path()}); }) ==
        "/x/br.conflist: plugins[0].ipam.type: unknown plugin \"host-local\" (no executable host-local in " + d.path() + ")");
  fake_plugin(d.path(), "host-local", "exit 0\n");
  CHECK(error_message([&] { cni::check_plugins(n, {d.path()}); }).empty());
  CHECK(cni::find_plugin("bridge", {"/nonexistent", d.path()}) == d.path() + "/bridge");
}

TEST_CASE("cni: the catalog has the built-ins, user files override them, a name twice in a dir is an error") {
  podtest::TempDir d;
  cni::Catalog c = cni::Catalog::load({d.path() + "/missing"});
  REQUIRE(c.find("default"));
  REQUIRE(c.find("default-restricted"));
  CHECK(c.find("default")->source == "built-in");
  CHECK(c.find("default")->conflist["plugins"][0]["ipMasq"] == true);
  CHECK(c.find("default-restricted")->conflist["plugins"][0]["ipMasq"] == false);
  CHECK_FALSE(c.find("default-restricted")->conflist["plugins"][0]["ipam"].contains("routes"));

  write_file_at(AT_FDCWD, d.path() + "/10-br.conflist", kBridge);
  write_file_at(AT_FDCWD, d.path() + "/README", "not a config");
  write_file_at(AT_FDCWD, d.path() + "/20-default.conf", R"({"cniVersion": "1.0.0", "name": "default", "type": "ptp"})");
  c = cni::Catalog::load({d.path()});
  REQUIRE(c.find("br"));
  CHECK(c.find("br")->source == d.path() + "/10-br.conflist");
  CHECK(c.find("default")->source == d.path() + "/20-default.conf");

  write_file_at(AT_FDCWD, d.path() + "/30-br.conflist", kBridge);
  CHECK(error_message([&] { cni::Catalog::load({d.path()}); }) ==
        d.path() + "/30-br.conflist: name: network \"br\" is also defined by " + d.path() + "/10-br.conflist");
}

TEST_CASE("cni: --net and --publish syntax") {
  CHECK(cni::parse_net_flag("host").empty());
  CHECK(cni::parse_net_flag("none").empty());
  auto r = cni::parse_net_flag("default,br:IP=10.88.0.9;FOO=bar");
  REQUIRE(r.size() == 2);
  CHECK(r[0].name == "default");
  CHECK(r[0].args.empty());
  CHECK(r[1].name == "br");
  CHECK(r[1].args == "IP=10.88.0.9;FOO=bar");
  CHECK(error_message([] { cni::parse_net_flag("host,default"); }) ==
        "--net=host,default: host cannot be combined with other networks");
  CHECK(error_message([] { cni::parse_net_flag("a,a"); }) == "--net=a,a: network a is given twice");
  CHECK(error_message([] { cni::parse_net_flag("a:NOEQUALS"); }) ==
        "--net=a:NOEQUALS: CNI_ARGS of a: \"NOEQUALS\" is not KEY=VALUE");
  CHECK(error_message([] { cni::parse_net_flag("a,"); }) == "--net=a,: \"\" is not a network name");

  auto p = cni::parse_publish("8080:80");
  CHECK(p.host_port == 8080);
  CHECK(p.pod_port == 80);
  CHECK(p.protocol == "tcp");
  CHECK(p.host_ip.empty());
  p = cni::parse_publish("127.0.0.1:5353:53/udp");
  CHECK(p.host_ip == "127.0.0.1");
  CHECK(p.protocol == "udp");
  CHECK(cni::parse_publish("[::1]:8080:80").host_ip == "::1");
  CHECK(error_message([] { cni::parse_publish("80:80/sctp"); }) == "--publish 80:80/sctp: protocol \"sctp\" is not tcp or udp");
  CHECK(error_message([] { cni::parse_publish("70000:80"); }) ==
        "--publish 70000:80: host port \"70000\" is not a port (1-65535)");
  CHECK(error_message([] { cni::parse_publish("80"); }).find("expected [HOSTIP:]HOSTPORT:PODPORT") != std::string::npos);
  CHECK(error_message([] { cni::parse_publish("nohost:80:80"); }) == "--publish nohost:80:80: \"nohost\" is not an IP address");
}

TEST_CASE("cni: subnets overlap across the networks a pod joins; ports go to a network with portmap") {
  CHECK(cni::cidr_overlap("10.0.0.0/8", "10.88.0.0/16"));
  CHECK(cni::cidr_overlap("10.88.1.0/24", "10.88.0.0/16"));
  CHECK_FALSE(cni::cidr_overlap("172.16.28.0/24", "172.16.29.0/24"));
  CHECK_FALSE(cni::cidr_overlap("10.0.0.0/8", "fd00::/8"));
  CHECK(error_message([] { cni::cidr_overlap("10.0.0.0", "10.0.0.0/8"); }).find("is not a CIDR") != std::string::npos);

  podtest::TempDir d;
  for (const char* p : {"ptp", "host-local", "portmap", "bridge"}) fake_plugin(d.path(), p, "exit 0\n");
  write_file_at(AT_FDCWD, d.path() + "/br.conflist", kBridge);
  write_file_at(AT_FDCWD, d.path() + "/wide.conflist", R"({"cniVersion": "1.0.0", "name": "wide", "plugins": [
    {"type": "bridge", "ipam": {"type": "host-local", "ranges": [[{"subnet": "10.0.0.0/8"}]]}}]})");
  write_file_at(AT_FDCWD, d.path() + "/badnet.conflist", R"({"cniVersion": "1.0.0", "name": "badnet", "plugins": [
    {"type": "bridge", "ipam": {"type": "host-local", "subnet": "10.0.0.300/8"}}]})");
  const cni::Catalog c = cni::Catalog::load({d.path()});
  auto nets = cni::resolve("default,br", c, {d.path()}, {});
  REQUIRE(nets.size() == 2);
  CHECK(nets[0].ifname == "eth0");
  CHECK(nets[1].ifname == "eth1");
  CHECK(nets[1].source == d.path() + "/br.conflist");
  CHECK(error_message([&] { cni::resolve("br,wide", c, {d.path()}, {}); }) ==
        d.path() + "/wide.conflist: plugins[0].ipam.ranges[0][0].subnet: subnet 10.0.0.0/8 of network wide overlaps "
                   "subnet 10.88.0.0/16 of network br (" + d.path() + "/br.conflist: plugins[0].ipam.subnet)");
  CHECK(error_message([&] { cni::resolve("badnet", c, {d.path()}, {}); })
            .find(d.path() + "/badnet.conflist: plugins[0].ipam.subnet: \"10.0.0.300/8\" is not a CIDR") == 0);
  Error nf("");
  try {
    cni::resolve("nosuch", c, {d.path()}, {});
  } catch (const Error& e) {
    nf = e;
  }
  CHECK(nf.kind() == ErrorKind::NotFound);
  CHECK(std::string(nf.what()).find("no network named \"nosuch\"") != std::string::npos);

  const std::vector<contract::PortMapping> ports = {cni::parse_publish("8080:80")};
  nets = cni::resolve("br,default", c, {d.path()}, ports);
  CHECK(nets[0].ports.empty());
  CHECK(nets[1].ports == ports);
  CHECK(error_message([&] { cni::resolve("br", c, {d.path()}, ports); }).find("need a network with the portmap plugin") !=
        std::string::npos);
}

TEST_CASE("cni: results of 1.0.0 and 0.4.0 read alike") {
  const json v1 = json::parse(R"({"cniVersion": "1.0.0",
    "interfaces": [{"name": "veth1", "mac": "aa:bb"}, {"name": "eth0", "mac": "cc:dd", "sandbox": "/p/netns"}],
    "ips": [{"address": "172.16.28.5/24", "gateway": "172.16.28.1", "interface": 1}],
    "routes": [{"dst": "0.0.0.0/0"}], "dns": {"nameservers": ["10.0.0.53"], "search": ["example"]}})");
  cni::Result r = cni::parse_result(v1, "net");
  REQUIRE(r.ips.size() == 1);
  CHECK(r.ips[0].address == "172.16.28.5/24");
  CHECK(r.ips[0].gateway == "172.16.28.1");
  CHECK(r.ips[0].interface == 1);
  CHECK(r.interfaces[1].sandbox == "/p/netns");
  CHECK(r.routes[0].dst == "0.0.0.0/0");
  CHECK(r.nameservers == std::vector<std::string>{"10.0.0.53"});
  CHECK(r.search == std::vector<std::string>{"example"});

  const json v04 = json::parse(R"({"cniVersion": "0.4.0", "interfaces": [{"name": "eth0"}],
    "ips": [{"version": "4", "address": "10.88.0.2/16", "gateway": "10.88.0.1", "interface": 0}], "dns": {}})");
  r = cni::parse_result(v04, "net");
  CHECK(r.ips[0].address == "10.88.0.2/16");
  CHECK(r.nameservers.empty());

  CHECK(error_message([] { cni::parse_result(json::parse(R"({"ips": [{"gateway": "1.2.3.4"}]})"), "net"); }) ==
        "net: result ips[0].address is missing");
  CHECK(error_message([] { cni::parse_result(json::parse(R"({"ips": [{"address": "1.2.3.4/8", "interface": 3}]})"), "net"); }) ==
        "net: result ips[0].interface: no interface 3");
}

TEST_CASE("cni: a plugin's config has the list's name and version, prevResult and its capabilities only") {
  const json list = json::parse(R"({"cniVersion": "1.0.0", "name": "n", "plugins": [
    {"type": "ptp"}, {"type": "portmap", "capabilities": {"portMappings": true, "bandwidth": false}}]})");
  json rc = json::object();
  rc["portMappings"] = json::array({{{"hostPort", 8080}, {"containerPort", 80}, {"protocol", "tcp"}}});
  rc["bandwidth"] = json::object();
  json c0 = cni::plugin_conf(list, 0, nullptr, rc);
  CHECK(c0 == json{{"type", "ptp"}, {"name", "n"}, {"cniVersion", "1.0.0"}});
  const json prev = {{"cniVersion", "1.0.0"}, {"ips", json::array()}};
  json c1 = cni::plugin_conf(list, 1, prev, rc);
  CHECK(c1["prevResult"] == prev);
  CHECK(c1["runtimeConfig"] == json{{"portMappings", rc["portMappings"]}});
}

TEST_CASE("cni: the protocol: env, stdin, results, error objects, chaining, DEL of every plugin") {
  podtest::TempDir d;
  // Echo what the plugin was told, as a result that the next plugin gets as prevResult.
  fake_plugin(d.path(), "first",
              "in=$(cat)\n"
              "echo \"$CNI_COMMAND $CNI_CONTAINERID $CNI_NETNS $CNI_IFNAME $CNI_ARGS $CNI_PATH\" > " + d.path() + "/env\n"
              "echo \"$in\" > " + d.path() + "/first.in\n"
              "[ \"$CNI_COMMAND\" = DEL ] && exit 0\n"
              "echo '{\"cniVersion\": \"1.0.0\", \"ips\": [{\"address\": \"10.1.0.2/24\"}]}'\n");
  fake_plugin(d.path(), "second",
              "cat > " + d.path() + "/second.in\n"
              "echo DEL-second >> " + d.path() + "/dels\n"
              "[ \"$CNI_COMMAND\" = DEL ] && { echo '{\"code\": 11, \"msg\": \"busy\", \"details\": \"try later\"}'; exit 1; }\n"
              "echo '{\"cniVersion\": \"1.0.0\", \"ips\": [{\"address\": \"10.1.0.2/24\"}], \"dns\": {\"nameservers\": [\"9.9.9.9\"]}}'\n");
  fake_plugin(d.path(), "broken", "echo 'not json'; echo 'oops on stderr' >&2; exit 3\n");
  const json list = json::parse(R"({"cniVersion": "1.0.0", "name": "t", "plugins": [{"type": "first"}, {"type": "second"}]})");
  cni::Invocation inv;
  inv.container_id = "c1";
  inv.netns = "/p/netns";
  inv.ifname = "eth0";
  inv.args = "A=1";
  inv.path = {d.path()};
  const json res = cni::add_list(list, inv, json::object(), "network t");
  CHECK(res["dns"]["nameservers"][0] == "9.9.9.9");
  CHECK(read_file(d.path() + "/env") == "ADD c1 /p/netns eth0 A=1 " + d.path() + "\n");
  const json second_in = json::parse(read_file(d.path() + "/second.in"));
  CHECK(second_in["prevResult"]["ips"][0]["address"] == "10.1.0.2/24");
  CHECK(second_in["name"] == "t");

  // DEL: reverse order, every plugin even when one fails; the CNI error object is quoted.
  ::unlink((d.path() + "/env").c_str());
  const std::string err = error_message([&] { cni::del_list(list, inv, json::object(), res, "network t"); });
  CHECK(err == "network t: plugin second DEL failed: busy: try later (CNI error 11: try again later)");
  CHECK(read_file(d.path() + "/env").rfind("DEL c1", 0) == 0);  // first ran after second failed
  CHECK(json::parse(read_file(d.path() + "/first.in"))["prevResult"] == res);

  const json bad = json::parse(R"({"cniVersion": "1.0.0", "name": "b", "plugins": [{"type": "broken"}]})");
  CHECK(error_message([&] { cni::add_list(bad, inv, json::object(), "network b"); }) ==
        "network b: plugin broken ADD failed: oops on stderr");
  const json missing = json::parse(R"({"cniVersion": "1.0.0", "name": "m", "plugins": [{"type": "nosuch"}]})");
  CHECK(error_message([&] { cni::add_list(missing, inv, json::object(), "network m"); }) ==
        "network m: unknown plugin \"nosuch\" (no executable in " + d.path() + ")");

  fake_plugin(d.path(), "slow", "sleep 5\n");
  inv.timeout_ms = 200;
  const json slow = json::parse(R"({"cniVersion": "1.0.0", "name": "s", "plugins": [{"type": "slow"}]})");
  CHECK(error_message([&] { cni::add_list(slow, inv, json::object(), "network s"); }) ==
        "network s: plugin slow ADD did not finish within 0 s (killed)");
}

TEST_CASE("cni: VERSION of the real plugins") {
  if (cni::find_plugin("ptp", {cni::kDefaultPluginDir}).empty()) {
    MESSAGE("skipped: containernetworking-plugins is not installed");
    return;
  }
  const auto v = cni::plugin_versions("ptp", {cni::kDefaultPluginDir});
  CHECK(std::find(v.begin(), v.end(), "1.0.0") != v.end());
  CHECK(std::find(v.begin(), v.end(), "0.4.0") != v.end());
}

TEST_CASE("cni: runtime.json carries the resolved networks and reads them back") {
  contract::Runtime rt;
  rt.net = "default";
  contract::NetworkAttachment a;
  a.name = "default";
  a.ifname = "eth0";
  a.args = "K=V";
  a.source = "built-in";
  a.conflist = json::parse(R"({"cniVersion": "1.0.0", "name": "default", "plugins": [{"type": "ptp"}]})");
  a.ports = {cni::parse_publish("127.0.0.1:8080:80/udp")};
  rt.networks = {a};
  rt.dns_search = {"example.com"};
  rt.dns_options = {"ndots:2"};
  CHECK(contract::parse_runtime(contract::serialize(rt)) == rt);

  CHECK(error_message([] { contract::parse_runtime(R"({"net": "default"})"); }) ==
        "runtime.json.networks: --net=default needs the networks it names");
  CHECK(error_message([] {
          contract::parse_runtime(R"({"net": "x", "networks": [{"name": "x", "ifname": "eth0/1", "conflist": {}}]})");
        }) == "runtime.json.networks[0].ifname: \"eth0/1\" is not an interface name");
  CHECK(error_message([] { contract::parse_runtime(R"({"dns": ["host", "1.1.1.1"]})"); })
            .find("runtime.json.dns: \"host\"") == 0);
}

TEST_CASE("cni: --port NAME:HOSTPORT maps the app's named port and records it in the pod manifest") {
  contract::PodManifest m;
  contract::RuntimeApp a;
  a.name = "web";
  a.app.ports = {{"http", "tcp", 80, 1, false}, {"dns", "udp", 53, 1, false}};
  m.apps = {a};
  PodSpec spec;
  spec.ports = {"http:8080", "dns:5353"};
  spec.publish = {"127.0.0.1:9090:90"};
  const auto maps = run::port_mappings(spec, m);
  REQUIRE(maps.size() == 3);
  CHECK(maps[0] == contract::PortMapping{"127.0.0.1", 9090, 90, "tcp", ""});
  CHECK(maps[1] == contract::PortMapping{"", 8080, 80, "tcp", "http"});
  CHECK(maps[2] == contract::PortMapping{"", 5353, 53, "udp", "dns"});
  REQUIRE(m.ports.size() == 2);
  CHECK(m.ports[0].name == "http");
  CHECK(m.ports[0].host_port == 8080);

  spec.ports = {"nosuch:1"};
  spec.publish.clear();
  CHECK(error_message([&] { run::port_mappings(spec, m); }) ==
        "--port nosuch:1: no app of the pod has a port named \"nosuch\" (its ports: http, dns)");
  spec.ports = {"http:8080"};
  spec.publish = {"8080:81"};
  CHECK(error_message([&] { run::port_mappings(spec, m); }) == "host port 8080/tcp is published twice");
}

TEST_CASE("cni: CHECK runs every plugin with the ADD's result, and not for 0.3.x or disableCheck") {
  podtest::TempDir d;
  fake_plugin(d.path(), "p", "echo \"$CNI_COMMAND\" >> " + d.path() + "/calls\ncat > " + d.path() + "/in\n");
  cni::Invocation inv;
  inv.path = {d.path()};
  const json res = {{"cniVersion", "1.0.0"}, {"ips", json::array()}};
  json list = json::parse(R"({"cniVersion": "1.0.0", "name": "c", "plugins": [{"type": "p"}, {"type": "p"}]})");
  cni::check_list(list, inv, json::object(), res, "network c");
  CHECK(read_file(d.path() + "/calls") == "CHECK\nCHECK\n");
  CHECK(json::parse(read_file(d.path() + "/in"))["prevResult"] == res);
  CHECK(error_message([&] { cni::check_list(list, inv, json::object(), nullptr, "network c"); }) ==
        "network c: CHECK needs the result of ADD, which is not recorded");
  list["cniVersion"] = "0.3.1";
  cni::check_list(list, inv, json::object(), res, "network c");
  list["cniVersion"] = "1.0.0";
  list["disableCheck"] = true;
  cni::check_list(list, inv, json::object(), res, "network c");
  CHECK(read_file(d.path() + "/calls") == "CHECK\nCHECK\n");
}
