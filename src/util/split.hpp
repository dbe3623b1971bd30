// Splitting "a,b,c" lists (flags, annotations). Header-only: the static pod
// init uses it too.
#pragma once
#include <string>
#include <vector>

namespace pod {

// The parts of `s` between `sep`s, empty ones included ("" -> {""}).
inline std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  size_t i = 0;
  for (;;) {
    const size_t j = s.find(sep, i);
    out.push_back(s.substr(i, j == std::string::npos ? std::string::npos : j - i));
    if (j == std::string::npos) return out;
    i = j + 1;
  }
}

}  // namespace pod
