// Shared by the libFuzzer harnesses in tests/fuzz (Documentation/fuzzing.md).
//
// A harness feeds its input to one parser, swallows the pod::Error that the
// parser is documented to throw on bad input, and lets everything else
// through: any other exception reaches std::terminate (abort), which libFuzzer
// reports as a crash, just as the pod binary would die on it (main catches
// pod::Error only). FUZZ_CHECK adds properties that every accepted input
// must have, so silent misparses are findings too.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <set>
#include <stdexcept>
#include <string>
#include <utility>

namespace podfuzz {

inline std::string as_string(const uint8_t* data, size_t size) {
  return std::string(reinterpret_cast<const char*>(data), size);
}

[[noreturn]] inline void violated(const char* cond, const std::string& detail, const char* file, int line) {
  std::fprintf(stderr, "%s:%d: fuzz check failed: %s: %s\n", file, line, cond, detail.c_str());
  std::abort();
}

// A finding that has been reported and whose fix is owned elsewhere (the
// harness comment names it). Strict by default: it is a crash like any other,
// which is what the long runs want. With POD_FUZZ_ALLOW_KNOWN=1 (the short run
// in scripts/test) it is tolerated, so the suite stays green until the fix
// lands, and a line "pod-fuzz: known finding <id>" on stderr says it was hit.
inline bool allow_known() {
  static const bool allow = [] {
    const char* v = std::getenv("POD_FUZZ_ALLOW_KNOWN");
    return v && std::string(v) == "1";
  }();
  return allow;
}

inline bool known_finding(const char* id) {
  if (!allow_known()) return false;
  static std::set<std::string> reported;
  if (reported.insert(id).second) std::fprintf(stderr, "pod-fuzz: known finding %s\n", id);
  return true;
}

// Runs fn, where a std::logic_error whose what() is `what` (e.g. "stoul" for
// std::stoul's invalid_argument and out_of_range) is the known finding `id`.
// Strict runs install no handler, so the report shows where it was thrown.
template <class F>
void known_exception(const char* id, const char* what, F&& fn) {
  if (!allow_known()) return fn();
  try {
    fn();
  } catch (const std::logic_error& e) {
    if (std::strcmp(e.what(), what) != 0) throw;
    known_finding(id);
  }
}

// Splits the input at the first `sep` byte: {before, after} ("" after when absent).
inline std::pair<std::string, std::string> split_at(const std::string& s, char sep) {
  auto p = s.find(sep);
  if (p == std::string::npos) return {s, ""};
  return {s.substr(0, p), s.substr(p + 1)};
}

}  // namespace podfuzz

#define FUZZ_CHECK(cond, detail) \
  ((cond) ? (void)0 : podfuzz::violated(#cond, (detail), __FILE__, __LINE__))
// A check that a known, reported finding `id` still fails (see known_finding).
#define FUZZ_CHECK_KNOWN(cond, id, detail) \
  ((cond) || podfuzz::known_finding(id) ? (void)0 : podfuzz::violated(#cond, (detail), __FILE__, __LINE__))
