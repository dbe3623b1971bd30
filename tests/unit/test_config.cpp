// The configuration's pod sections (src/config): stage1.options and stage1.images, networks, trust,
// limits: each key, bad types and values naming the file and the key, unknown keys, layering.
#include <doctest/doctest.h>

#include <string>

#include "config/config.hpp"
#include "helpers.hpp"
#include "isolators/isolators.hpp"
#include "net/cni/config.hpp"
#include "util/error.hpp"

using namespace pod;

namespace {
std::string parse_error(const std::string& doc) {
  return podtest::error_message([&] { config::parse(doc, "s.json"); });
}
}  // namespace

TEST_CASE("configuration: stage1.options as an object or a list, entry by entry over the earlier layers") {
  auto c = config::parse(R"({"stage1": {"options": {"memory": "512Mi", "cpus": "2"}}})", "v.json");
  CHECK(c.stage1.options == std::map<std::string, std::string>{{"cpus", "2"}, {"memory", "512Mi"}});
  CHECK(c.sources.at("stage1.options.memory") == "v.json");
  auto over = config::parse(R"({"stage1": {"options": ["memory=1G", "extra=a=b"]}})", "s.json", c);
  CHECK(over.stage1.options == std::map<std::string, std::string>{{"cpus", "2"}, {"extra", "a=b"}, {"memory", "1G"}});
  CHECK(over.sources.at("stage1.options.memory") == "s.json");
  CHECK(over.sources.at("stage1.options.cpus") == "v.json");
  CHECK(parse_error(R"({"stage1": {"options": "memory=1G"}})") ==
        "configuration s.json: stage1.options must be an object {\"NAME\": \"VALUE\"} or a list of \"NAME=VALUE\"");
  CHECK(parse_error(R"({"stage1": {"options": {"memory": 512}}})") ==
        "configuration s.json: stage1.options.memory must be a string (the --stage1-opt value)");
  CHECK(parse_error(R"({"stage1": {"options": ["memory"]}})") ==
        "configuration s.json: stage1.options entries must be \"NAME=VALUE\" strings, as --stage1-opt");
  CHECK(parse_error(R"({"stage1": {"options": ["a=1", "a=2"]}})") == "configuration s.json: stage1.options.a is given twice");
  CHECK(parse_error(R"({"stage1": {"option": {}}})") ==
        "configuration s.json: unknown key \"stage1.option\" (known: defaultFlavor, options, images)");
}

TEST_CASE("configuration: stage1.images maps flavours to absolute image paths") {
  auto c = config::parse(R"({"stage1": {"images": {"kvm": "/opt/kvm.aci"}}})", "v.json");
  c = config::parse(R"({"stage1": {"images": {"nspawn": "/srv/n.aci"}}})", "s.json", c);
  CHECK(c.stage1.images == std::map<std::string, std::string>{{"kvm", "/opt/kvm.aci"}, {"nspawn", "/srv/n.aci"}});
  CHECK(c.sources.at("stage1.images.kvm") == "v.json");
  CHECK(c.sources.at("stage1.images.nspawn") == "s.json");
  CHECK(parse_error(R"({"stage1": {"images": {"kvm": "kvm.aci"}}})") ==
        "configuration s.json: stage1.images.kvm must be an absolute path (a string starting with /)");
  CHECK(parse_error(R"({"stage1": {"images": ["/a.aci"]}})") ==
        "configuration s.json: stage1.images must be an object {\"FLAVOR\": \"/path/to/stage1.aci\"}");
}

TEST_CASE("configuration: networks.default is a --net value, networks.configDirs absolute dirs") {
  auto c = config::parse(R"({"networks": {"default": "lan:IP=10.1.2.3,other", "configDirs": ["/srv/net.d"]}})", "s.json");
  CHECK(c.networks.default_net == "lan:IP=10.1.2.3,other");
  CHECK(c.networks.config_dirs == std::vector<std::string>{"/srv/net.d"});
  CHECK(c.sources.at("networks.configDirs") == "s.json");
  auto over = config::parse(R"({"networks": {"configDirs": ["/a", "/b"]}})", "l.json", c);
  CHECK(over.networks.config_dirs == std::vector<std::string>{"/a", "/b"});  // the list is replaced
  CHECK(over.networks.default_net == "lan:IP=10.1.2.3,other");
  CHECK(config::parse(R"({"networks": {"default": "host"}})", "s.json").networks.default_net == "host");
  CHECK(parse_error(R"({"networks": {"default": "host,lan"}})") ==
        "configuration s.json: networks.default is not a --net value: --net=host,lan: host cannot be combined with "
        "other networks");
  CHECK(parse_error(R"({"networks": {"default": 3}})") == "configuration s.json: networks.default must be a non-empty string");
  CHECK(parse_error(R"({"networks": {"configDirs": "/srv"}})") ==
        "configuration s.json: networks.configDirs must be a list of absolute paths");
  CHECK(parse_error(R"({"networks": {"configDirs": ["/a", "rel"]}})") ==
        "configuration s.json: networks.configDirs[1] must be an absolute path (a string starting with /)");
  // One lookup list: the system dir, the configured ones in order, the data dir's last (it wins).
  CHECK(cni::config_dirs("/var/lib/pod", over.networks.config_dirs) ==
        std::vector<std::string>{"/etc/pod/net.d", "/a", "/b", "/var/lib/pod/net.d"});
  CHECK(cni::config_dirs("/var/lib/pod") == std::vector<std::string>{"/etc/pod/net.d", "/var/lib/pod/net.d"});
  CHECK(parse_error(R"({"networks": {"defaults": "host"}})") ==
        "configuration s.json: unknown key \"networks.defaults\" (known: default, configDirs)");
}

TEST_CASE("configuration: trust.insecureOptions takes the flag's values, as a comma list or a list") {
  auto c = config::parse(R"({"trust": {"insecureOptions": "image,seccomp"}})", "s.json");
  CHECK(c.trust.insecure_options == std::vector<std::string>{"image", "seccomp"});
  CHECK(c.trust.insecure_list() == "image,seccomp");
  CHECK(config::parse(R"({"trust": {"insecureOptions": ["http", "none"]}})", "s.json").trust.insecure_list() == "http");
  auto none = config::parse(R"({"trust": {"insecureOptions": "none"}})", "l.json", c);
  CHECK(none.trust.insecure_options.empty());  // a later layer can turn it off again
  CHECK(none.sources.at("trust.insecureOptions") == "l.json");
  CHECK(parse_error(R"({"trust": {"insecureOptions": "image,signatures"}})") ==
        "configuration s.json: trust.insecureOptions: unknown value \"signatures\" (known: none, image, http, tls, "
        "all-fetch, all, all-run, isolators, seccomp, capabilities, paths)");
  CHECK(parse_error(R"({"trust": {"insecureOptions": true}})") ==
        "configuration s.json: trust.insecureOptions must be a comma list or a list of strings");
  CHECK(parse_error(R"({"trust": {"keyrings": []}})") ==
        "configuration s.json: unknown key \"trust.keyrings\" (known: insecureOptions)");
}

TEST_CASE("configuration: limits are validated as their flags and become isolators under the image's") {
  auto c = config::parse(R"({"limits": {"memory": "256M", "cpu": "500m", "pidsLimit": 100}})", "s.json");
  CHECK(c.limits.memory == "256M");
  CHECK(c.limits.cpu == "500m");
  CHECK(c.limits.pids_limit == "100");
  CHECK(config::parse(R"({"limits": {"cpu": 1.5}})", "s.json").limits.cpu == "1.5");
  auto over = config::parse(R"({"limits": {"memory": "1G"}})", "l.json", c);
  CHECK(over.limits.memory == "1G");
  CHECK(over.limits.cpu == "500m");
  CHECK(over.sources.at("limits.memory") == "l.json");
  CHECK(over.sources.at("limits.cpu") == "s.json");
  CHECK(parse_error(R"({"limits": {"memory": "lots"}})") ==
        "configuration s.json: limits.memory is not a valid --memory: --memory=lots: limit \"lots\" is not a size (a "
        "positive number of bytes, optionally with k, M, G, Ki, Mi or Gi)");
  CHECK(parse_error(R"({"limits": {"pidsLimit": "many"}})") ==
        "configuration s.json: limits.pidsLimit is not a valid --pids-limit: --pids-limit=many: not a whole number");
  CHECK(parse_error(R"({"limits": {"memory": []}})") == "configuration s.json: limits.memory must be a non-empty string or a number");
  CHECK(parse_error(R"({"limits": {"pids": 10}})") ==
        "configuration s.json: unknown key \"limits.pids\" (known: memory, cpu, pidsLimit)");
  // Precedence: a flag beats the image's isolator, which beats the default.
  const std::vector<contract::Isolator> image = {{"resource/memory", {{"limit", "64M"}}}};
  IsolatorSpec defaults;
  defaults.memory = "256M";
  defaults.pids_limit = "100";
  auto got = isolators::merge(image, {}, defaults);
  REQUIRE(got.size() == 2);
  CHECK(got[0].name == "resource/pids");
  CHECK(got[1].value == nlohmann::json{{"limit", "64M"}});
  IsolatorSpec flags;
  flags.memory = "32M";
  got = isolators::merge(image, flags, defaults);
  REQUIRE(got.size() == 2);
  CHECK(got[1].value == nlohmann::json{{"limit", "32M"}});
  got = isolators::merge({}, {}, defaults);
  REQUIRE(got.size() == 2);
  CHECK(got[0].value == nlohmann::json{{"limit", "256M"}});
}
