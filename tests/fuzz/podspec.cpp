// The pod/app flag parsers (src/run/podspec.cpp). Input: one selector byte
// (modulo 5: --volume, --mount, --set-env, --hosts-entry, default_app_name),
// then the flag's value. What a parser accepts must be what was written:
// uid/gid are not wrapped, NAME=VALUE and IP=HOST split back into the input,
// accepted names are valid appc names and variable names. The long runs take
// long inputs (the --set-env name once overflowed the stack in std::regex).
// fuzz-options: -max_len=65536 -len_control=0
#include "appc/names.hpp"
#include "fuzz.hpp"
#include "run/podspec.hpp"
#include "util/error.hpp"

namespace appc = pod::appc;
namespace run = pod::run;

namespace {

// Finds `key=VALUE` in a comma-separated list.
bool find_key(const std::string& s, const std::string& key, std::string* value) {
  size_t i = 0;
  while (i <= s.size()) {
    size_t j = s.find(',', i);
    if (j == std::string::npos) j = s.size();
    if (s.compare(i, key.size() + 1, key + "=") == 0) {
      *value = s.substr(i + key.size() + 1, j - i - key.size() - 1);
      return true;
    }
    i = j + 1;
  }
  return false;
}

void check_id(const std::string& s, const char* key, unsigned got) {
  std::string v;
  if (!find_key(s, key, &v)) return;
  v.erase(0, std::min(v.find_first_not_of('0'), v.size() - 1));  // "007" -> "7", "000" -> "0"
  FUZZ_CHECK(std::to_string(got) == v, std::string("--volume ") + key + "=" + v + " was read as " + std::to_string(got));
}

void volume(const std::string& s) {
  const pod::VolumeSpec v = run::parse_volume(s);
  FUZZ_CHECK(v.kind == "host" || v.kind == "empty", "kind " + v.kind);
  FUZZ_CHECK(appc::is_ac_name(v.name), "volume name \"" + v.name + "\"");
  if (v.kind == "host") FUZZ_CHECK(!v.source.empty() && v.source[0] == '/', "source " + v.source);
  check_id(s, "uid", v.uid);
  check_id(s, "gid", v.gid);
}

void mount(const std::string& s) {
  const pod::MountSpec m = run::parse_mount(s);
  FUZZ_CHECK(!m.volume.empty() && !m.target.empty() && m.target[0] == '/', s);
}

void env(const std::string& s) {
  const auto [name, value] = run::parse_env(s, "--set-env");
  FUZZ_CHECK(name + "=" + value == s, "\"" + s + "\" split as \"" + name + "\" = \"" + value + "\"");
  FUZZ_CHECK(appc::is_env_name(name), "variable name \"" + name + "\" accepted");
}

void hosts(const std::string& s) {
  const auto [ip, host] = run::parse_hosts_entry(s);
  FUZZ_CHECK(!ip.empty() && !host.empty() && ip + "=" + host == s, s);
}

void names(const std::string& s) {
  FUZZ_CHECK(appc::is_ac_name(run::default_app_name(s)), "default_app_name(\"" + s + "\")");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string s = podfuzz::as_string(data + 1, size - 1);
  try {
    switch (data[0] % 5) {
      case 0: volume(s); break;
      case 1: mount(s); break;
      case 2: env(s); break;
      case 3: hosts(s); break;
      default: names(s); break;
    }
  } catch (const pod::Error&) {
  }
  return 0;
}
