// The duration parser (src/util/time.cpp, parse_duration: --grace-period,
// --expire-prepared, --timeout). Input: the flag's value. An accepted value
// is never negative, and one "<integer><unit>" term is read exactly.
// The same input through parse_time_point (pod logs --since/--until): no
// crash, only usage errors, and an accepted duration is that long before now.
// fuzz-options: -max_len=512
#include <optional>

#include "fuzz.hpp"
#include "util/error.hpp"
#include "util/time.hpp"

namespace {

// "<digits><unit>" -> milliseconds when exactly representable (< 2^53), else -1.
long long exact_single_term(const std::string& s) {
  size_t i = 0;
  unsigned __int128 v = 0;
  while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
    v = v * 10 + static_cast<unsigned>(s[i] - '0');
    if (v > (1ull << 53)) return -1;
    ++i;
  }
  if (i == 0) return -1;
  const std::string unit = s.substr(i);
  const long long mult = unit == "ms" ? 1 : unit == "s" ? 1000 : unit == "m" ? 60000 : unit == "h" ? 3600000
                       : unit == "d" ? 86400000 : 0;
  if (mult == 0 || v * mult >= (1ull << 53)) return -1;
  return static_cast<long long>(v * mult);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string s = podfuzz::as_string(data, size);
  const pod::Clock::time_point now{std::chrono::hours(24 * 365 * 56)};
  std::optional<pod::Clock::time_point> at;
  try {
    at = pod::parse_time_point(s, "--fuzz", now);
  } catch (const pod::Error& e) {
    FUZZ_CHECK(e.kind() == pod::ErrorKind::Usage, "\"" + s + "\": " + e.what());
  }
  std::chrono::milliseconds d;
  try {
    d = pod::parse_duration(s, "--fuzz");
  } catch (const pod::Error&) {
    return 0;
  }
  if (s.find_first_of("-:T") == std::string::npos)
    FUZZ_CHECK(at && *at == now - d, "\"" + s + "\" is a duration but not that long before now");
  FUZZ_CHECK(d.count() >= 0, "\"" + s + "\" is " + std::to_string(d.count()) + "ms");
  if (long long want = exact_single_term(s); want >= 0)
    FUZZ_CHECK(d.count() == want, "\"" + s + "\" is " + std::to_string(d.count()) + "ms, not " + std::to_string(want));
  return 0;
}
