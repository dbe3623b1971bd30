// The registry client's parsers (src/images/registry_parse.cpp), the
// shared digest code and what net::get refuses before connecting: image
// references, platforms, WWW-Authenticate, auth.json, index platform
// selection, manifests. (Transfers: tests/functional/test_registry_client.py.)
#include <doctest/doctest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <optional>
#include <string>

#include "helpers.hpp"
#include "images/registry_parse.hpp"
#include "net/http.hpp"
#include "util/digest.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"

using namespace pod;
using namespace pod::images;

namespace {

const std::string kHex = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

template <class F>
std::string error_of(F&& f, ErrorKind want) {
  try {
    f();
  } catch (const Error& e) {
    CHECK(e.kind() == want);
    return e.what();
  } catch (const std::exception& e) {
    FAIL("not a pod::Error: " << e.what());
  }
  FAIL("no error");
  return "";
}

void put(const std::string& path, const std::string& text) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  std::ofstream(path) << text;
}

// Sets an environment variable for one scope.
struct Env {
  std::string name;
  std::optional<std::string> old;
  Env(const char* n, const std::string& v) : name(n) {
    if (const char* o = getenv(n)) old = o;
    setenv(n, v.c_str(), 1);
  }
  ~Env() {
    if (old) setenv(name.c_str(), old->c_str(), 1);
    else unsetenv(name.c_str());
  }
};

}  // namespace

TEST_CASE("sha256 and sha512 share one implementation and give the known digests") {
  CHECK(sha256_hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(sha256_hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(sha512_hex("abc").substr(0, 16) == "ddaf35a193617aba");
  Sha256 h;
  h.update("a");
  h.update(std::string("bc"));
  CHECK(h.hex_digest() == sha256_hex("abc"));
}

TEST_CASE("image references: Docker Hub defaults") {
  auto r = parse_registry_ref("alpine");
  CHECK(r.registry == "docker.io");
  CHECK(r.repository == "library/alpine");
  CHECK(r.tag == "latest");
  CHECK(r.digest == "");
  CHECK(registry_api_host(r) == "registry-1.docker.io");
  CHECK(r.str() == "docker.io/library/alpine:latest");
  r = parse_registry_ref("user/app:1.2");
  CHECK(r.registry == "docker.io");
  CHECK(r.repository == "user/app");
  CHECK(r.tag == "1.2");
  r = parse_registry_ref("index.docker.io/busybox");
  CHECK(r.registry == "docker.io");
  CHECK(r.repository == "library/busybox");
}

TEST_CASE("image references: hosts, ports, tags and digests") {
  auto r = parse_registry_ref("localhost:5000/a/b-c__d.e:v1");
  CHECK(r.registry == "localhost:5000");
  CHECK(r.repository == "a/b-c__d.e");
  CHECK(r.tag == "v1");
  CHECK(registry_api_host(r) == "localhost:5000");
  r = parse_registry_ref("127.0.0.1:41234/x@sha256:" + kHex);
  CHECK(r.registry == "127.0.0.1:41234");
  CHECK(r.repository == "x");
  CHECK(r.tag == "");
  CHECK(r.digest == "sha256:" + kHex);
  CHECK(r.str() == "127.0.0.1:41234/x@sha256:" + kHex);
  r = parse_registry_ref("quay.io/org/app:tag@sha256:" + kHex);
  CHECK(r.tag == "tag");
  CHECK(r.digest == "sha256:" + kHex);
  r = parse_registry_ref("localhost/app");
  CHECK(r.registry == "localhost");
  CHECK(r.tag == "latest");
  CHECK(parse_registry_ref("[::1]:5000/app").registry == "[::1]:5000");
}

TEST_CASE("image references: invalid ones are usage errors naming the problem") {
  auto err = [](const std::string& s) { return error_of([&] { parse_registry_ref(s); }, ErrorKind::Usage); };
  CHECK(err("") == "invalid image reference: it is empty");
  CHECK(err("example.com/App") == "invalid image reference \"example.com/App\": \"App\" is not a repository path "
                                  "component (lowercase letters and digits, separated by . _ __ or -)");
  CHECK(err("x@sha256:abc") ==
        "invalid image reference \"x@sha256:abc\": the digest \"sha256:abc\" is not sha256: and 64 lowercase hex digits");
  CHECK(err("x@sha256:" + std::string(64, 'A')).find("64 lowercase hex digits") != std::string::npos);
  CHECK(err("example.com/").find("it names no repository") != std::string::npos);
  CHECK(err("example.com:99999/x").find("is not a registry host[:port]") != std::string::npos);
  CHECK(err("x:bad/tag").find("\"x:bad\" is not a registry host") != std::string::npos);
  CHECK(err("x:-tag").find("the tag \"-tag\"") != std::string::npos);
  CHECK(err("a//b").find("\"\" is not a repository path component") != std::string::npos);
  CHECK(err("a--b_-c").find("\"a--b_-c\"") != std::string::npos);
}

TEST_CASE("WWW-Authenticate: Bearer with quoted values and commas inside quotes, Basic, several challenges") {
  auto c = parse_www_authenticate(
      R"(Bearer realm="https://auth.example.com/token",service="registry.example.com",scope="repository:a/b:pull,push")");
  REQUIRE(c.size() == 1);
  CHECK(c[0].scheme == "bearer");
  CHECK(c[0].params.at("realm") == "https://auth.example.com/token");
  CHECK(c[0].params.at("service") == "registry.example.com");
  CHECK(c[0].params.at("scope") == "repository:a/b:pull,push");
  c = parse_www_authenticate(R"(Basic realm="pod \"test\"")");
  REQUIRE(c.size() == 1);
  CHECK(c[0].scheme == "basic");
  CHECK(c[0].params.at("realm") == "pod \"test\"");
  c = parse_www_authenticate(R"(Basic realm=x, BEARER Realm="https://t", Service = s)");
  REQUIRE(c.size() == 2);
  CHECK(c[0].params.at("realm") == "x");
  CHECK(c[1].scheme == "bearer");
  CHECK(c[1].params.at("realm") == "https://t");
  CHECK(c[1].params.at("service") == "s");
  CHECK(error_of([] { parse_www_authenticate(R"(Bearer realm="unclosed)"); }, ErrorKind::Invalid)
            .find("a quoted value is not closed") != std::string::npos);
  CHECK(error_of([] { parse_www_authenticate("  "); }, ErrorKind::Invalid).find("no challenge") != std::string::npos);
  CHECK(error_of([] { parse_www_authenticate("=x"); }, ErrorKind::Invalid).find("expected an auth scheme") !=
        std::string::npos);
}

TEST_CASE("token replies") {
  CHECK(parse_token_reply(R"({"token":"abc","access_token":"zzz"})", "t") == "abc");
  CHECK(parse_token_reply(R"({"access_token":"zzz","expires_in":300})", "t") == "zzz");
  CHECK(error_of([] { parse_token_reply(R"({"token":5})", "the token reply"); }, ErrorKind::Invalid) ==
        "the token reply.token: must be a string");
  CHECK(error_of([] { parse_token_reply(R"({"token":"a\r\nX: y"})", "t"); }, ErrorKind::Invalid)
            .find("control characters") != std::string::npos);
  error_of([] { parse_token_reply("[1", "t"); }, ErrorKind::Invalid);
}

TEST_CASE("auth.json: host keys, scheme and path keys, docker.io aliases") {
  const std::string j = R"({"auths": {
    "https://index.docker.io/v1/": {"auth": "aHViOmh1Yg=="},
    "127.0.0.1:5000": {"auth": "dTpw"},
    "http://example.com/some/path": {"auth": "ZXg6ZXg="},
    "noauth.example": {"identitytoken": "x"}}})";
  CHECK(auth_from_json(j, "docker.io", "f") == "aHViOmh1Yg==");
  CHECK(auth_from_json(j, "127.0.0.1:5000", "f") == "dTpw");
  CHECK(auth_from_json(j, "example.com", "f") == "ZXg6ZXg=");
  CHECK(auth_from_json(j, "127.0.0.1:5001", "f") == std::nullopt);
  CHECK(auth_from_json(j, "noauth.example", "f") == std::nullopt);
  CHECK(auth_from_json(R"({"credsStore":"x"})", "docker.io", "f") == std::nullopt);
  CHECK(error_of([] { auth_from_json(R"({"auths":{"h":{"auth":"a\r\nb"}}})", "h", "/a.json"); }, ErrorKind::Invalid) ==
        "/a.json.auths.h.auth: is not base64 of user:password");
  error_of([] { auth_from_json(R"({"auths":[]})", "h", "f"); }, ErrorKind::Invalid);
}

TEST_CASE("auth.json search order: explicit file, REGISTRY_AUTH_FILE, XDG_RUNTIME_DIR, ~/.docker/config.json") {
  podtest::TempDir d;
  Env home("HOME", d.path() + "/home");
  Env xdg("XDG_RUNTIME_DIR", d.path() + "/run");
  Env reg("REGISTRY_AUTH_FILE", d.path() + "/reg.json");
  CHECK(auth_file_candidates("/x.json") == std::vector<std::string>{"/x.json", d.path() + "/reg.json",
                                                                     d.path() + "/run/containers/auth.json",
                                                                     d.path() + "/home/.docker/config.json"});
  CHECK(find_registry_auth("h:1", "") == std::nullopt);  // no file exists
  put(d.path() + "/home/.docker/config.json", R"({"auths":{"h:1":{"auth":"ZG9ja2VyOmQ="}}})");
  auto f = find_registry_auth("h:1", "");
  REQUIRE(f);
  CHECK(f->auth == "ZG9ja2VyOmQ=");
  CHECK(f->file == d.path() + "/home/.docker/config.json");
  put(d.path() + "/run/containers/auth.json", R"({"auths":{"other":{"auth":"eDp5"}}})");
  CHECK(find_registry_auth("h:1", "")->file == d.path() + "/home/.docker/config.json");  // no entry: next file
  put(d.path() + "/reg.json", R"({"auths":{"h:1":{"auth":"cmVnOnI="}}})");
  CHECK(find_registry_auth("h:1", "")->auth == "cmVnOnI=");
  put(d.path() + "/mine.json", R"({"auths":{"h:1":{"auth":"bWU6bQ=="}}})");
  CHECK(find_registry_auth("h:1", d.path() + "/mine.json")->auth == "bWU6bQ==");
  CHECK(error_of([&] { find_registry_auth("h:1", d.path() + "/none.json"); }, ErrorKind::Io)
            .find("cannot read the auth file " + d.path() + "/none.json") == 0);
}

namespace {
std::string entry(const std::string& arch, const std::string& variant, char digit) {
  return R"({"mediaType":"application/vnd.oci.image.manifest.v1+json","size":10,"digest":"sha256:)" +
         std::string(64, digit) + R"(","platform":{"os":"linux","architecture":")" + arch + "\"" +
         (variant.empty() ? "" : R"(,"variant":")" + variant + "\"") + "}}";
}
}  // namespace

TEST_CASE("index platform selection (images/oci.hpp, as the registry client uses it)") {
  const std::string idx = R"({"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[)" +
                          entry("amd64", "", '1') + "," + entry("arm64", "v8", '2') + "," + entry("arm", "v7", '3') +
                          "]}";
  const auto m = oci::parse_index(idx, "idx");
  REQUIRE(m.size() == 3);
  CHECK(oci::select_platform(m, Platform{}, "idx").digest == "sha256:" + std::string(64, '1'));
  CHECK(oci::select_platform(m, oci::parse_platform("linux/arm64"), "idx").digest == "sha256:" + std::string(64, '2'));
  CHECK(error_of([&] { oci::select_platform(m, oci::parse_platform("linux/arm/v6"), "the index"); }, ErrorKind::NotFound) ==
        "the index has no image for linux/arm/v6 (it has: linux/amd64, linux/arm64/v8, linux/arm/v7); "
        "choose one with --platform");
}

TEST_CASE("manifests: schema 1, unknown types and malformed ones are refused as invalid") {
  auto err = [](const std::string& body) {
    return error_of([&] { oci::parse_manifest(body, "m"); }, ErrorKind::Invalid);
  };
  CHECK(err(R"({"schemaVersion":1,"name":"x"})").find("a Docker schema 1 manifest") != std::string::npos);
  CHECK(err(R"({"schemaVersion":2,"mediaType":"text/html"})") ==
        "m.mediaType: \"text/html\" is not an image manifest type");
  CHECK(err(R"({"schemaVersion":"2"})").find("m.schemaVersion") == 0);
  CHECK(err(R"({"schemaVersion":2,"layers":{}, "config": {"digest": "sha256:)" + std::string(64, 'a') +
            R"(", "size": 1}})").find("m.layers") == 0);
  err("[");
  err("null");
}

TEST_CASE("net::get refuses plain http without allow_http and other schemes, before connecting") {
  auto sink = [](const char*, size_t) {};
  net::Request r;
  r.url = "http://127.0.0.1:9/x";
  CHECK(error_of([&] { net::get(r, sink); }, ErrorKind::Usage) ==
        "GET http://127.0.0.1:9/x: plain http is not allowed; use --insecure-options=http to allow it");
  r.url = "ftp://127.0.0.1:9/x";
  CHECK(error_of([&] { net::get(r, sink); }, ErrorKind::Usage) == "GET ftp://127.0.0.1:9/x: not an http(s) URL");
  r.url = "http://127.0.0.1:9/x";  // allowed, but nothing listens on the discard port
  r.allow_http = true;
  CHECK(error_of([&] { net::get(r, sink); }, ErrorKind::Failed).rfind("GET http://127.0.0.1:9/x: ", 0) == 0);
}
