// The duration parser (src/util/time.cpp, parse_duration: --grace-period,
// --expire-prepared, --timeout). Input: the flag's value. An accepted value
// is never negative, and one "<integer><unit>" term is read exactly.
// fuzz-options: -max_len=512
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
  std::chrono::milliseconds d;
  try {
    d = pod::parse_duration(s, "--fuzz");
  } catch (const pod::Error&) {
    return 0;
  }
  FUZZ_CHECK(d.count() >= 0, "\"" + s + "\" is " + std::to_string(d.count()) + "ms");
  if (long long want = exact_single_term(s); want >= 0)
    FUZZ_CHECK(d.count() == want, "\"" + s + "\" is " + std::to_string(d.count()) + "ms, not " + std::to_string(want));
  return 0;
}
