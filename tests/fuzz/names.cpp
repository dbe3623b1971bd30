// appc names (src/appc/names.cpp): the hand-written matchers against the
// appc spec's regular expressions (and SemVer 2.0.0's official one), and
// parse_semver against the string it parsed.
// fuzz-options: -max_len=1024
#include <regex>

#include "appc/names.hpp"
#include "fuzz.hpp"

namespace appc = pod::appc;

namespace {

// std::regex recurses per character; the differential check stays on short inputs.
constexpr size_t kRegexMax = 256;

const std::regex kIdentifier("^[a-z0-9]+([-._~/][a-z0-9]+)*$");
const std::regex kName("^[a-z0-9]+(-[a-z0-9]+)*$");
const std::regex kKind("^[A-Za-z0-9]+$");
const std::regex kEnv("^[A-Za-z_][A-Za-z_0-9.-]*$");
// semver.org, "Is there a suggested regular expression".
const std::regex kSemver(
    "^(0|[1-9][0-9]*)\\.(0|[1-9][0-9]*)\\.(0|[1-9][0-9]*)"
    "(?:-((?:0|[1-9][0-9]*|[0-9]*[a-zA-Z-][0-9a-zA-Z-]*)(?:\\.(?:0|[1-9][0-9]*|[0-9]*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    "(?:\\+([0-9a-zA-Z-]+(?:\\.[0-9a-zA-Z-]+)*))?$");

void same(bool ours, const std::regex& re, const std::string& s, const char* what) {
  if (s.size() > kRegexMax) return;
  const bool spec = std::regex_match(s, re);
  FUZZ_CHECK(ours == spec, std::string(what) + (ours ? " accepts" : " refuses") + " \"" + s + "\"");
}

void check_semver(const std::string& s) {
  const auto v = appc::parse_semver(s);
  if (v) {
    std::string back = std::to_string(v->major) + "." + std::to_string(v->minor) + "." + std::to_string(v->patch);
    if (!v->pre.empty()) back += "-" + v->pre;
    if (!v->build.empty()) back += "+" + v->build;
    FUZZ_CHECK(back == s, "parse_semver(\"" + s + "\") reads back as \"" + back + "\"");
  }
  if (s.size() > kRegexMax) return;
  std::smatch m;
  bool spec = std::regex_match(s, m, kSemver);
  // parse_semver also bounds each numeric part to 18 digits (it fits an unsigned long).
  for (int i = 1; spec && i <= 3; ++i) spec = m[i].length() <= 18;
  FUZZ_CHECK(v.has_value() == spec, "parse_semver " + std::string(v ? "accepts" : "refuses") + " \"" + s + "\"");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string s = podfuzz::as_string(data, size);
  same(appc::is_ac_identifier(s), kIdentifier, s, "is_ac_identifier");
  same(appc::is_ac_name(s), kName, s, "is_ac_name");
  same(appc::is_ac_kind(s), kKind, s, "is_ac_kind");
  same(appc::is_env_name(s), kEnv, s, "is_env_name");
  check_semver(s);
  return 0;
}
