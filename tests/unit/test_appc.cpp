#include <doctest/doctest.h>

#include "appc/image_manifest.hpp"
#include "appc/names.hpp"
#include "util/error.hpp"

using namespace pod;
using nlohmann::json;

namespace {
json base() {
  return json::parse(R"({"acKind":"ImageManifest","acVersion":"0.8.11","name":"example.com/app",
    "labels":[{"name":"version","value":"1.0"},{"name":"os","value":"linux"},{"name":"arch","value":"amd64"}],
    "app":{"exec":["/bin/sh"],"user":"0","group":"0"}})");
}

// Validation must fail and the message must name `field`.
void rejects(const json& m, const std::string& field) {
  try {
    appc::validate_image_manifest(m);
    FAIL("accepted a manifest with a bad " << field << ": " << m.dump());
  } catch (const Error& e) {
    INFO(e.what());
    CHECK(std::string(e.what()).find(field) != std::string::npos);
  }
}
}  // namespace

TEST_CASE("AC identifiers, names, kinds and env names") {
  CHECK(appc::is_ac_identifier("example.com/app-1_x~y"));
  CHECK(appc::is_ac_identifier("a"));
  CHECK_FALSE(appc::is_ac_identifier(""));
  CHECK_FALSE(appc::is_ac_identifier("Example.com"));
  CHECK_FALSE(appc::is_ac_identifier("-a"));
  CHECK_FALSE(appc::is_ac_identifier("a-"));
  CHECK_FALSE(appc::is_ac_identifier("a//b"));
  CHECK_FALSE(appc::is_ac_identifier("a:b"));
  CHECK(appc::is_ac_name("web-1"));
  CHECK_FALSE(appc::is_ac_name("web_1"));
  CHECK_FALSE(appc::is_ac_name("web--1"));
  CHECK(appc::is_ac_kind("ImageManifest"));
  CHECK_FALSE(appc::is_ac_kind("Image Manifest"));
  CHECK(appc::is_env_name("_A.b-1"));
  CHECK_FALSE(appc::is_env_name("1A"));
}

TEST_CASE("semver 2.0.0 parsing") {
  auto v = appc::parse_semver("0.8.11-rc.1+build.5");
  REQUIRE(v);
  CHECK(v->major == 0);
  CHECK(v->minor == 8);
  CHECK(v->patch == 11);
  CHECK(v->pre == "rc.1");
  CHECK(v->build == "build.5");
  for (const char* bad : {"", "1", "1.2", "v1.2.3", "01.2.3", "1.2.3-", "1.2.3-01", "1.2.3+", "1.2.3.4", "a.b.c"}) {
    INFO(bad);
    CHECK_FALSE(appc::parse_semver(bad));
  }
}

TEST_CASE("a good image manifest validates, accessors read it") {
  json m = base();
  m["dependencies"] = json::parse(R"([{"imageName":"example.com/base","labels":[{"name":"version","value":"2"}],"size":10}])");
  m["pathWhitelist"] = {"/bin/sh", "//etc/./passwd"};
  m["annotations"] = json::parse(R"([{"name":"created","value":"2026-01-02T15:04:05Z"},{"name":"homepage","value":"https://x.org"}])");
  CHECK_NOTHROW(appc::validate_image_manifest(m));
  CHECK(appc::manifest_name(m) == "example.com/app");
  CHECK(appc::manifest_labels(m).at("version") == "1.0");
  auto deps = appc::manifest_dependencies(m);
  REQUIRE(deps.size() == 1);
  CHECK(deps[0].image_name == "example.com/base");
  CHECK(deps[0].labels.at("version") == "2");
  CHECK(*deps[0].size == 10);
  CHECK(appc::manifest_path_whitelist(m) == std::vector<std::string>{"bin/sh", "etc/passwd"});
  json noapp = base();
  noapp.erase("app");
  CHECK_NOTHROW(appc::validate_image_manifest(noapp));
}

TEST_CASE("top-level fields are validated and errors name the field") {
  json m = base();
  m["acKind"] = "PodManifest";
  rejects(m, "acKind");
  m = base();
  m.erase("acKind");
  rejects(m, "acKind");
  m = base();
  m["acVersion"] = "1.0.0";
  rejects(m, "acVersion");
  m = base();
  m["acVersion"] = "0.8";
  rejects(m, "acVersion");
  m = base();
  m.erase("name");
  rejects(m, "name");
  m = base();
  m["name"] = "Bad Name";
  rejects(m, "name");
  CHECK_THROWS_AS(appc::parse_image_manifest("{not json"), Error);
  CHECK_THROWS_AS(appc::parse_image_manifest(std::string(appc::kMaxManifestSize + 1, ' ')), Error);
  rejects(json::array(), "top level");
}

TEST_CASE("labels: names, duplicates, reserved name, os/arch allow-list") {
  json m = base();
  m["labels"] = json::parse(R"([{"name":"version","value":"1"},{"name":"version","value":"2"}])");
  rejects(m, "labels");
  m["labels"] = json::parse(R"([{"name":"name","value":"x"}])");
  rejects(m, "labels");
  m["labels"] = json::parse(R"([{"name":"os","value":"plan9"}])");
  rejects(m, "labels");
  m["labels"] = json::parse(R"([{"name":"os","value":"linux"},{"name":"arch","value":"x86_64"}])");
  rejects(m, "labels");
  m["labels"] = json::parse(R"([{"name":"arch","value":"amd64"}])");
  rejects(m, "labels");
  m["labels"] = json::parse(R"([{"name":"Bad","value":"x"}])");
  rejects(m, "labels[0].name");
  m["labels"] = json::parse(R"([{"name":"os","value":"darwin"},{"name":"arch","value":"x86_64"}])");
  CHECK_NOTHROW(appc::validate_image_manifest(m));
  m["labels"] = json::parse(R"([{"name":"os","value":"freebsd"}])");
  CHECK_NOTHROW(appc::validate_image_manifest(m));
}

TEST_CASE("app section: every field") {
  struct Case {
    const char* patch;
    const char* field;
  } cases[] = {
      {R"({"exec":"/bin/sh"})", "app.exec"},
      {R"({"exec":[1]})", "app.exec[0]"},
      {R"({"exec":[""]})", "app.exec[0]"},
      {R"({"user":""})", "app.user"},
      {R"({"group":null})", "app.group"},
      {R"({"supplementaryGIDs":[-1]})", "app.supplementaryGIDs[0]"},
      {R"({"workingDirectory":"relative"})", "app.workingDirectory"},
      {R"({"environment":[{"name":"1X","value":"a"}]})", "app.environment[0].name"},
      {R"({"environment":[{"name":"X","value":"a"},{"name":"X","value":"b"}]})", "app.environment[1].name"},
      {R"({"environment":[{"name":"X","value":1}]})", "app.environment[0].value"},
      {R"({"mountPoints":[{"name":"Data","path":"/d"}]})", "app.mountPoints[0].name"},
      {R"({"mountPoints":[{"name":"data"}]})", "app.mountPoints[0].path"},
      {R"({"mountPoints":[{"name":"data","path":"/d","readOnly":"yes"}]})", "app.mountPoints[0].readOnly"},
      {R"({"ports":[{"name":"http","protocol":"tcp","port":0}]})", "app.ports[0].port"},
      {R"({"ports":[{"name":"http","protocol":"tcp","port":70000}]})", "app.ports[0].port"},
      {R"({"ports":[{"name":"http","port":80}]})", "app.ports[0].protocol"},
      {R"({"ports":[{"name":"http","protocol":"tcp","port":65535,"count":2}]})", "app.ports[0].count"},
      // Found by tests/fuzz (image_manifest): port + count - 1 wrapped around.
      {R"({"ports":[{"name":"http","protocol":"tcp","port":2,"count":18446744073709551615}]})", "app.ports[0].count"},
      {R"({"ports":[{"name":"a","protocol":"tcp","port":1},{"name":"a","protocol":"tcp","port":2}]})", "app.ports[1].name"},
      {R"({"isolators":[{"name":"Bad Name","value":{}}]})", "app.isolators[0].name"},
      {R"({"isolators":[{"name":"resource/cpu"}]})", "app.isolators[0].value"},
      {R"({"eventHandlers":[{"name":"pre-stop","exec":["/x"]}]})", "app.eventHandlers[0].name"},
      {R"({"eventHandlers":[{"name":"pre-start","exec":["/x"]},{"name":"pre-start","exec":["/y"]}]})", "app.eventHandlers[1].name"},
      {R"({"eventHandlers":[{"name":"post-stop","exec":[]}]})", "app.eventHandlers[0].exec"},
      {R"({"userAnnotations":{"a":1}})", "app.userAnnotations"},
      {R"({"userLabels":[]})", "app.userLabels"},
  };
  for (const auto& c : cases) {
    json m = base();
    m["app"].merge_patch(json::parse(c.patch));
    INFO(c.patch);
    rejects(m, c.field);
  }
  json m = base();
  m["app"].erase("user");
  rejects(m, "app.user");
  m = base();
  m["app"].merge_patch(json::parse(R"({"ports":[{"name":"http","protocol":"tcp","port":80,"count":3,"socketActivated":true}],
    "mountPoints":[{"name":"data","path":"/d","readOnly":true}],"isolators":[{"name":"resource/cpu","value":{"limit":"1"}}],
    "eventHandlers":[{"name":"pre-start","exec":["/x"]},{"name":"post-stop","exec":["/y"]}],"supplementaryGIDs":[1,2]})"));
  CHECK_NOTHROW(appc::validate_image_manifest(m));
  m["app"]["ports"] = json::parse(R"([{"name":"all","protocol":"tcp","port":1,"count":65535}])");
  CHECK_NOTHROW(appc::validate_image_manifest(m));
}

TEST_CASE("dependencies, pathWhitelist and annotations") {
  json m = base();
  m["dependencies"] = json::parse(R"([{"labels":[]}])");
  rejects(m, "dependencies[0].imageName");
  m["dependencies"] = json::parse(R"([{"imageName":"x","imageID":"sha256-abc"}])");
  rejects(m, "dependencies[0].imageID");
  m["dependencies"] = json::parse(R"([{"imageName":"x","size":-3}])");
  rejects(m, "dependencies[0].size");
  m["dependencies"] = json::parse(R"([{"imageName":"x","labels":[{"name":"os","value":"plan9"}]}])");
  rejects(m, "dependencies[0].labels");
  m = base();
  m["pathWhitelist"] = {"relative/path"};
  rejects(m, "pathWhitelist[0]");
  m = base();
  m["annotations"] = json::parse(R"([{"name":"a","value":"1"},{"name":"a","value":"2"}])");
  rejects(m, "annotations[1].name");
  m["annotations"] = json::parse(R"([{"name":"created","value":"2026-01-02 15:04:05"}])");
  rejects(m, "annotations.created");
  m["annotations"] = json::parse(R"([{"name":"homepage","value":"ftp://x"}])");
  rejects(m, "annotations.homepage");
  m["annotations"] = json::parse(R"([{"name":"appc.io/executor/supports-systemd-notify","value":"yes"}])");
  rejects(m, "supports-systemd-notify");
}
