// A progress line on stderr for long transfers: bytes, percent, rate and ETA,
// redrawn at most 10 times a second, only when enabled (a terminal, not --quiet).
#pragma once
#include <chrono>
#include <cstdint>
#include <string>

namespace pod {

class ProgressLine {
 public:
  // total 0: unknown (no percent, no ETA).
  ProgressLine(std::string label, uint64_t total, bool enabled);
  ~ProgressLine();
  ProgressLine(const ProgressLine&) = delete;
  ProgressLine& operator=(const ProgressLine&) = delete;
  void update(uint64_t done);
  // The line as update() would draw it (for tests).
  static std::string render(const std::string& label, uint64_t done, uint64_t total, double seconds);
  // Whether stderr is a terminal and quiet is not asked for.
  static bool wanted(bool quiet);

 private:
  std::string label_;
  uint64_t total_, done_ = 0;
  bool enabled_, drawn_ = false;
  std::chrono::steady_clock::time_point start_, last_;
};

}  // namespace pod
