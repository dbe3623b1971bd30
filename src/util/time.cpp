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

// `n` digits at s[i...] as a number, or -1.
int digits_at(const std::string& s, size_t i, size_t n) {
  if (i + n > s.size()) return -1;
  int v = 0;
  for (size_t k = i; k < i + n; ++k) {
    if (!std::isdigit(static_cast<unsigned char>(s[k]))) return -1;
    v = v * 10 + (s[k] - '0');
  }
  return v;
}

// The digits after a '.' at s[i] as nanoseconds (at most 9 digits), advancing i; -1 if there are none.
long long fraction_at(const std::string& s, size_t& i) {
  if (i >= s.size() || s[i] != '.') return 0;
  size_t k = ++i;
  long long ns = 0;
  while (k < s.size() && std::isdigit(static_cast<unsigned char>(s[k]))) {
    if (k - i >= 9) return -1;
    ns = ns * 10 + (s[k] - '0');
    ++k;
  }
  if (k == i) return -1;
  for (size_t d = k - i; d < 9; ++d) ns *= 10;
  i = k;
  return ns;
}

// Within what a Clock (ns in 64 bits) holds: up to the year 2255; beyond, nullopt.
std::optional<Clock::time_point> from_unix_ns(long long secs, long long ns) {
  constexpr long long kMaxSecs = 9'000'000'000LL;
  if (secs > kMaxSecs || secs < -kMaxSecs) return std::nullopt;
  return Clock::time_point(std::chrono::duration_cast<Clock::duration>(std::chrono::seconds(secs) +
                                                                         std::chrono::nanoseconds(ns)));
}

std::optional<Clock::time_point> parse_unix(const std::string& s) {
  size_t i = 0;
  while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) ++i;
  if (i == 0 || i > 12) return std::nullopt;  // (from_unix_ns refuses beyond 2255 anyway)
  const long long secs = std::stoll(s.substr(0, i));
  const long long ns = fraction_at(s, i);
  if (ns < 0 || i != s.size()) return std::nullopt;
  return from_unix_ns(secs, ns);
}

// YYYY-MM-DD[(T|t| )HH:MM:SS[.frac][Z|z|±HH:MM]]
std::optional<Clock::time_point> parse_rfc3339(const std::string& s) {
  const int year = digits_at(s, 0, 4), mon = digits_at(s, 5, 2), day = digits_at(s, 8, 2);
  if (year < 1970 || mon < 1 || mon > 12 || day < 1 || day > 31 || s[4] != '-' || s[7] != '-')
    return std::nullopt;
  struct tm tm {};
  tm.tm_year = year - 1900;
  tm.tm_mon = mon - 1;
  tm.tm_mday = day;
  size_t i = 10;
  long long ns = 0;
  bool local = true;
  long offset_s = 0;
  if (i < s.size()) {
    if (s[i] != 'T' && s[i] != 't' && s[i] != ' ') return std::nullopt;
    const int h = digits_at(s, i + 1, 2), m = digits_at(s, i + 4, 2), sec = digits_at(s, i + 7, 2);
    if (h < 0 || h > 23 || m < 0 || m > 59 || sec < 0 || sec > 60 || s[i + 3] != ':' || s[i + 6] != ':')
      return std::nullopt;
    tm.tm_hour = h;
    tm.tm_min = m;
    tm.tm_sec = sec;
    i += 9;
    ns = fraction_at(s, i);
    if (ns < 0) return std::nullopt;
    if (i < s.size() && (s[i] == 'Z' || s[i] == 'z')) {
      local = false;
      ++i;
    } else if (i < s.size() && (s[i] == '+' || s[i] == '-')) {
      const int oh = digits_at(s, i + 1, 2), om = digits_at(s, i + 4, 2);
      if (oh < 0 || oh > 23 || om < 0 || om > 59 || i + 3 >= s.size() || s[i + 3] != ':') return std::nullopt;
      offset_s = (s[i] == '+' ? 1 : -1) * (oh * 3600L + om * 60L);
      local = false;
      i += 6;
    }
    if (i != s.size()) return std::nullopt;
  }
  // A day past the month's end (2026-02-30) is refused, not rolled over.
  struct tm check = tm;
  const time_t t = local ? (check.tm_isdst = -1, ::mktime(&check)) : ::timegm(&check);
  if (t == static_cast<time_t>(-1) || check.tm_mday != tm.tm_mday || check.tm_mon != tm.tm_mon) return std::nullopt;
  return from_unix_ns(static_cast<long long>(t) - offset_s, ns);
}

}  // namespace

Clock::time_point parse_time_point(const std::string& s, const std::string& flag, Clock::time_point now) {
  const Error bad = usage_error("invalid time \"" + s + "\" for " + flag +
                                " (use RFC 3339 like 2026-01-02T15:04:05Z, a Unix time like 1767366245, or a "
                                "duration before now like 10m or 1h30m)");
  // A duration as docker reads it ("0" is now, not 1970): digits and units, no date.
  if (!s.empty() && std::isalpha(static_cast<unsigned char>(s.back())) && s.find_first_of("-:T") == std::string::npos) {
    try {
      return now - parse_duration(s, flag);
    } catch (const Error& e) {
      if (e.kind() != ErrorKind::Usage) throw;
      throw bad;
    }
  }
  if (s == "0") return now;
  if (auto t = parse_rfc3339(s)) return *t;
  if (auto t = parse_unix(s)) return *t;
  throw bad;
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
