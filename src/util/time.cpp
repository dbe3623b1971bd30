#include "util/time.hpp"

#include <time.h>

#include <cctype>
#include <charconv>
#include <cstdio>

#include "util/error.hpp"

namespace pod {

namespace {
constexpr double kMaxDurationMs = 100 * 366 * 86400e3;  // a century is long enough for any flag
}  // namespace

std::chrono::milliseconds parse_duration(const std::string& s, const std::string& flag) {
  auto bad = [&] {
    return usage_error("invalid duration \"" + s + "\" for " + flag + " (use e.g. 90s, 30m, 24h, 1h30m)");
  };
  if (s.empty()) throw bad();
  if (s == "0") return std::chrono::milliseconds(0);
  double total_ms = 0;
  size_t i = 0;
  while (i < s.size()) {
    size_t start = i;
    while (i < s.size() && (std::isdigit(static_cast<unsigned char>(s[i])) || s[i] == '.')) ++i;
    if (i == start) throw bad();
    // digits with at most one '.', and at least one digit ("." alone made std::stod throw)
    const std::string num = s.substr(start, i - start);
    if (num.find('.') != num.rfind('.') || num == ".") throw bad();
    double v = 0;
    auto [end, ec] = std::from_chars(num.data(), num.data() + num.size(), v);
    if (ec != std::errc() || end != num.data() + num.size()) throw bad();
    size_t ustart = i;
    while (i < s.size() && std::isalpha(static_cast<unsigned char>(s[i]))) ++i;
    std::string unit = s.substr(ustart, i - ustart);
    double mult;
    if (unit == "ms") mult = 1;
    else if (unit == "s") mult = 1000;
    else if (unit == "m") mult = 60e3;
    else if (unit == "h") mult = 3600e3;
    else if (unit == "d") mult = 86400e3;
    else throw bad();
    total_ms += v * mult;
    if (!(total_ms <= kMaxDurationMs)) throw bad();  // also NaN and infinity
  }
  return std::chrono::milliseconds(static_cast<long long>(total_ms));
}

namespace {
// fmt is always one of the literals below.
std::string strftime_utc(Clock::time_point t, bool iso, bool millis) {
  const char* fmt = iso ? "%Y-%m-%dT%H:%M:%S" : "%Y-%m-%d %H:%M:%S";
  auto secs = std::chrono::time_point_cast<std::chrono::seconds>(t);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t - secs).count();
  time_t tt = Clock::to_time_t(secs);
  struct tm tm;
  gmtime_r(&tt, &tm);
  char buf[64];
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
  strftime(buf, sizeof buf, fmt, &tm);
#pragma GCC diagnostic pop
  std::string out = buf;
  if (millis) {
    char m[8];
    std::snprintf(m, sizeof m, ".%03lld", static_cast<long long>(ms));
    out += m;
  }
  return out;
}
}  // namespace

std::string format_time(Clock::time_point t) {
  return strftime_utc(t, false, true) + " +0000 UTC";
}

std::string format_rfc3339(Clock::time_point t) {
  return strftime_utc(t, true, true) + "Z";
}

std::string format_ago(Clock::time_point t, Clock::time_point now) {
  auto s = std::chrono::duration_cast<std::chrono::seconds>(now - t).count();
  if (s < 0) s = 0;
  auto plural = [](long long n, const char* unit) {
    return std::to_string(n) + " " + unit + (n == 1 ? "" : "s") + " ago";
  };
  if (s < 60) return plural(s, "second");
  if (s < 3600) return plural(s / 60, "minute");
  if (s < 86400) return plural(s / 3600, "hour");
  return plural(s / 86400, "day");
}

Clock::time_point from_timespec(const struct timespec& ts) {
  return Clock::time_point(std::chrono::duration_cast<Clock::duration>(
      std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec)));
}

}  // namespace pod
