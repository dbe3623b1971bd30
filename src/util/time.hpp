#pragma once
#include <chrono>
#include <optional>
#include <string>

namespace pod {

using Clock = std::chrono::system_clock;

// Parse "90s", "30m", "24h", "1h30m", "250ms", "0" (Go-style durations).
// Throws a usage error naming `flag` on bad input.
std::chrono::milliseconds parse_duration(const std::string& s, const std::string& flag);

// A point in time as `pod logs --since/--until` take it (podman's and docker's
// forms): RFC 3339 ("2026-01-02T15:04:05Z", with or without a fraction and a
// zone: without one it is local time; or a date alone, its midnight), a Unix
// time ("1767366245", "1767366245.5"), or a duration before `now`
// (parse_duration's "10m", "1h30m"; "0" is now). Throws a usage error naming `flag`.
Clock::time_point parse_time_point(const std::string& s, const std::string& flag, Clock::time_point now = Clock::now());

// "2026-11-25 15:03:07.123 +0000 UTC"-like local rendering and RFC3339 for JSON.
std::string format_time(Clock::time_point t);
std::string format_rfc3339(Clock::time_point t);
// "3 minutes ago" style.
std::string format_ago(Clock::time_point t, Clock::time_point now = Clock::now());

Clock::time_point from_timespec(const struct timespec& ts);

}  // namespace pod
