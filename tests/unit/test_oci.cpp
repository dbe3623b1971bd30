// OCI/docker documents: strict parsing and the config -> appc manifest mapping.
#include <doctest/doctest.h>

#include "helpers.hpp"

#include "images/oci.hpp"
#include "util/digest.hpp"
#include "util/progress.hpp"
#include "util/error.hpp"

using namespace pod;
using namespace pod::images;

namespace {
const std::string kD1 = "sha256:" + std::string(64, 'a');
const std::string kD2 = "sha256:" + std::string(64, 'b');

std::string manifest_text(const std::string& layer_type) {
  return R"({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
             "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": ")" + kD1 +
         R"(", "size": 10}, "layers": [{"mediaType": ")" + layer_type + R"(", "digest": ")" + kD2 +
         R"(", "size": 20}]})";
}
}  // namespace

TEST_CASE("sha256 digests") {
  CHECK(sha256_hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(oci::valid_digest(kD1));
  CHECK_FALSE(oci::valid_digest("sha256:" + std::string(63, 'a')));
  CHECK_FALSE(oci::valid_digest("sha256:" + std::string(64, 'A')));
  CHECK_FALSE(oci::valid_digest("sha512:" + std::string(64, 'a')));
  CHECK(oci::digest_key(kD1) == "sha256-" + std::string(64, 'a'));
}

TEST_CASE("image manifests") {
  auto m = oci::parse_manifest(manifest_text("application/vnd.oci.image.layer.v1.tar+gzip"), "m");
  CHECK(m.config.digest == kD1);
  REQUIRE(m.layers.size() == 1);
  CHECK(m.layers[0].size == 20);
  CHECK(podtest::error_message([] { oci::parse_manifest(manifest_text("application/vnd.oci.image.layer.v1.tar+encrypted"), "m"); })
            .find("is encrypted") != std::string::npos);
  CHECK(podtest::error_message([] { oci::parse_manifest(manifest_text("text/plain"), "m"); })
            .find("not a tar layer pod can unpack") != std::string::npos);
  CHECK(podtest::error_message([] { oci::parse_manifest(R"({"schemaVersion": 1, "name": "x"})", "m"); })
            .find("schema 1") != std::string::npos);
  CHECK(podtest::error_message([] { oci::parse_manifest(R"({"schemaVersion": 2, "config": {"digest": "sha256:00", "size": 1}, "layers": []})", "m"); }) ==
        "m.config.digest: \"sha256:00\" is not a sha256 digest (sha256:<64 lowercase hex>)");
  CHECK(podtest::error_message([] { oci::parse_manifest("[1", "m"); }).rfind("m", 0) == 0);
}

TEST_CASE("indexes choose a platform") {
  const std::string idx = R"({"schemaVersion": 2, "manifests": [
      {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": ")" + kD1 +
                          R"(", "size": 1, "platform": {"os": "linux", "architecture": "arm64", "variant": "v8"}},
      {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": ")" + kD2 +
                          R"(", "size": 1, "platform": {"os": "linux", "architecture": "amd64"}}]})";
  auto ms = oci::parse_index(idx, "idx");
  CHECK(oci::select_platform(ms, oci::parse_platform(""), "idx").digest == kD2);
  CHECK(oci::select_platform(ms, oci::parse_platform("linux/arm64"), "idx").digest == kD1);
  CHECK(oci::select_platform(ms, oci::parse_platform("linux/arm64/v8"), "idx").digest == kD1);
  CHECK(podtest::error_message([&] { oci::select_platform(ms, oci::parse_platform("linux/s390x"), "idx"); }) ==
        "idx has no image for linux/s390x (it has: linux/arm64/v8, linux/amd64); choose one with --platform");
  CHECK(podtest::error_message([] { oci::parse_platform("linux"); }).find("is not OS/ARCH") != std::string::npos);
  CHECK(podtest::error_message([] { oci::parse_platform("linux//x"); }).find("is not OS/ARCH") != std::string::npos);
}

TEST_CASE("the config maps onto an appc app") {
  const std::string cfg = R"({"architecture": "arm64", "os": "linux",
    "config": {"Entrypoint": ["/bin/sh"], "Cmd": ["-c", "true"], "Env": ["A=1", "B=x=y", "EMPTY"],
               "User": "www:staff", "WorkingDir": "/srv", "ExposedPorts": {"80/tcp": {}, "53/udp": {}},
               "Volumes": {"/var/lib/data": {}, "/VAR/lib/data": {}}, "Labels": {"maintainer": "me", "Bad Key": "x"}},
    "rootfs": {"type": "layers", "diff_ids": [")" + kD1 + R"("]}})";
  auto c = oci::parse_config(cfg, "cfg");
  auto m = oci::appc_manifest(c, {"127.0.0.1:5000/team/app", "1.0"}, "ignored");
  CHECK(m["name"] == "127.0.0.1-5000/team/app");
  CHECK(m["labels"] == nlohmann::json::parse(R"([{"name": "version", "value": "1.0"}, {"name": "os", "value": "linux"},
                                                 {"name": "arch", "value": "aarch64"}])"));
  const auto& app = m["app"];
  CHECK(app["exec"] == nlohmann::json::parse(R"(["/bin/sh", "-c", "true"])"));
  CHECK(app["user"] == "www");
  CHECK(app["group"] == "staff");
  CHECK(app["workingDirectory"] == "/srv");
  CHECK(app["environment"] == nlohmann::json::parse(R"([{"name": "A", "value": "1"}, {"name": "B", "value": "x=y"},
                                                        {"name": "EMPTY", "value": ""}])"));
  CHECK(app["ports"].size() == 2);
  CHECK(app["mountPoints"][0]["name"] == "volume-var-lib-data");
  CHECK(app["mountPoints"][1]["name"] == "volume-var-lib-data-2");
  bool maintainer = false, bad = false;
  for (const auto& a : m["annotations"]) {
    maintainer |= a["name"] == "maintainer";
    bad |= a["name"] == "Bad Key";
  }
  CHECK(maintainer);
  CHECK_FALSE(bad);

  auto user_only = oci::parse_config(R"({"config": {"User": "1000"}, "rootfs": {"type": "layers", "diff_ids": []}})", "c");
  auto m2 = oci::appc_manifest(user_only, {"x", ""}, "1000");
  CHECK(m2["app"]["user"] == "1000");
  CHECK(m2["app"]["group"] == "1000");
  CHECK_FALSE(m2["app"].contains("exec"));
  CHECK(oci::split_user("") == std::pair<std::string, std::string>{"0", ""});
  CHECK(oci::split_user(":5") == std::pair<std::string, std::string>{"0", "5"});
}

TEST_CASE("bad configs name the field") {
  auto bad = [](const std::string& config) {
    return podtest::error_message([&] {
      auto c = oci::parse_config(R"({"config": )" + config + R"(, "rootfs": {"type": "layers", "diff_ids": []}})", "cfg");
      oci::appc_manifest(c, {"x", ""}, "0");
    });
  };
  CHECK(bad(R"({"ExposedPorts": {"99999/tcp": {}}})") == "image config ExposedPorts entry \"99999/tcp\" is not PORT[/tcp|udp|sctp]");
  CHECK(bad(R"({"WorkingDir": "rel"})") == "image config WorkingDir \"rel\" is not an absolute path");
  CHECK(bad(R"({"Env": ["1A=x"]})") == "image config Env entry \"1A=x\" is not NAME=VALUE");
  CHECK(bad(R"({"Cmd": "not-a-list"})").find("cfg.config.Cmd") == 0);
  CHECK(podtest::error_message([] { oci::parse_config(R"({"os": "windows", "rootfs": {"type": "layers", "diff_ids": []}})", "c"); }) ==
        "c.os: \"windows\": pod runs linux images only");
  CHECK(podtest::error_message([] { oci::parse_config(R"({"rootfs": {"type": "layers", "diff_ids": ["sha256:1"]}})", "c"); })
            .find("is not a sha256 digest") != std::string::npos);
}

TEST_CASE("progress lines") {
  CHECK(ProgressLine::render("layer abc", 0, 0, 0) == "layer abc: 0.0 MiB");
  CHECK(ProgressLine::render("l", 1 << 20, 4 << 20, 1.0) == "l: 1.0/4.0 MiB 25% 1.0 MiB/s ETA 0:03");
  CHECK(ProgressLine::render("l", 4 << 20, 4 << 20, 2.0) == "l: 4.0/4.0 MiB 100% 2.0 MiB/s");
}
