// What registries send and users type for the registry client
// (src/images/registry_parse.cpp). The first byte selects the parser (mod 4):
//   0: an image reference (parse_registry_ref): an accepted one prints (str())
//      as a reference that parses back to the same registry, repository, tag
//      and digest; a digest is sha256 and 64 hex digits;
//   1: a WWW-Authenticate header: at least one challenge, schemes and
//      parameter names non-empty and lower-case;
//   2: a manifest or index, the Content-Type before the first NUL byte:
//      descriptors have sha256 digests; every platform of an index selects an
//      entry of that platform, and linux/amd64 selects one or is a not-found error;
//   3: auth.json text (for docker.io) and a token reply.
// fuzz-options: -max_len=65536
#include <algorithm>

#include "fuzz.hpp"
#include "images/oci.hpp"
#include "images/registry_parse.hpp"
#include "util/error.hpp"

namespace img = pod::images;

namespace {

bool lower(const std::string& s) {
  return !s.empty() && std::none_of(s.begin(), s.end(), [](char c) { return c >= 'A' && c <= 'Z'; });
}

void reference(const std::string& s) {
  const img::RegistryRef r = img::parse_registry_ref(s);
  const img::RegistryRef again = img::parse_registry_ref(r.str());
  FUZZ_CHECK(again.registry == r.registry && again.repository == r.repository && again.tag == r.tag &&
                 again.digest == r.digest,
             r.str() + " reads back as " + again.str());
  FUZZ_CHECK(r.digest.empty() || img::oci::valid_digest(r.digest), r.digest);
  FUZZ_CHECK(!r.tag.empty() || !r.digest.empty(), "neither tag nor digest: " + r.str());
}

void challenge(const std::string& s) {
  const auto cs = img::parse_www_authenticate(s);
  FUZZ_CHECK(!cs.empty(), "no challenge accepted");
  for (const auto& c : cs) {
    FUZZ_CHECK(lower(c.scheme), "scheme \"" + c.scheme + "\"");
    for (const auto& [k, v] : c.params) FUZZ_CHECK(lower(k), "parameter \"" + k + "\"");
  }
}

void manifest(const std::string& s) {
  const auto [kind, body] = podfuzz::split_at(s, '\0');
  if (kind == "index") {
    const auto ms = img::oci::parse_index(body, "m");
    for (const auto& d : ms) {
      FUZZ_CHECK(img::oci::valid_digest(d.digest), d.digest);
      if (!d.has_platform) continue;
      const auto got = img::oci::select_platform(ms, d.platform, "m");
      FUZZ_CHECK(got.platform.os == d.platform.os && got.platform.arch == d.platform.arch,
                 "selected another platform for " + d.platform.str());
    }
    return;
  }
  const auto m = img::oci::parse_manifest(body, "m");
  FUZZ_CHECK(img::oci::valid_digest(m.config.digest), m.config.digest);
  for (const auto& d : m.layers) FUZZ_CHECK(img::oci::valid_digest(d.digest), d.digest);
}

void auth(const std::string& s) {
  try {
    if (auto a = img::auth_from_json(s, "docker.io", "auth.json"))
      FUZZ_CHECK(!a->empty() && a->find_first_of("\r\n ") == std::string::npos, "auth \"" + *a + "\"");
  } catch (const pod::Error&) {
  }
  const std::string tok = img::parse_token_reply(s, "token reply");
  FUZZ_CHECK(!tok.empty() && tok.find_first_of("\r\n ") == std::string::npos, "token \"" + tok + "\"");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string s = podfuzz::as_string(data + 1, size - 1);
  try {
    switch (data[0] % 4) {
      case 0: reference(s); break;
      case 1: challenge(s); break;
      case 2: manifest(s); break;
      default: auth(s); break;
    }
  } catch (const pod::Error&) {
  }
  return 0;
}
