#include "util/progress.hpp"

#include <unistd.h>

#include <cstdio>

namespace pod {

namespace {
std::string mib(uint64_t b) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", static_cast<double>(b) / (1 << 20));
  return buf;
}
}  // namespace

ProgressLine::ProgressLine(std::string label, uint64_t total, bool enabled)
    : label_(std::move(label)), total_(total), enabled_(enabled), start_(std::chrono::steady_clock::now()) {}

ProgressLine::~ProgressLine() {
  if (!enabled_) return;
  if (drawn_ || done_) {
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    std::fprintf(stderr, "\r%s\033[K\n", render(label_, done_, total_, s).c_str());
  }
}

bool ProgressLine::wanted(bool quiet) { return !quiet && ::isatty(STDERR_FILENO); }

void ProgressLine::update(uint64_t done) {
  done_ = done;
  if (!enabled_) return;
  const auto now = std::chrono::steady_clock::now();
  if (drawn_ && now - last_ < std::chrono::milliseconds(100)) return;
  last_ = now;
  drawn_ = true;
  const double s = std::chrono::duration<double>(now - start_).count();
  std::fprintf(stderr, "\r%s\033[K", render(label_, done, total_, s).c_str());
}

std::string ProgressLine::render(const std::string& label, uint64_t done, uint64_t total, double seconds) {
  std::string line = label + ": " + mib(done) + (total ? "/" + mib(total) : "") + " MiB";
  if (total) line += " " + std::to_string(done >= total ? 100 : done * 100 / total) + "%";
  if (seconds > 0.2) {
    const double rate = static_cast<double>(done) / seconds;
    line += " " + mib(static_cast<uint64_t>(rate)) + " MiB/s";
    if (total && done < total && rate > 0) {
      const auto eta = static_cast<uint64_t>(static_cast<double>(total - done) / rate);
      char buf[32];
      std::snprintf(buf, sizeof buf, " ETA %llu:%02llu", static_cast<unsigned long long>(eta / 60),
                    static_cast<unsigned long long>(eta % 60));
      line += buf;
    }
  }
  return line;
}

}  // namespace pod
