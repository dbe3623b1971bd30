#pragma once
#include <chrono>
#include <optional>
#include <string>

namespace pod {

using Clock = std::chrono::system_clock;

// Parse "90s", "30m", "24h", "1h30m", "250ms", "0" (Go-style durations).
// Throws a usage error naming `flag` on bad input.
std::chrono::milliseconds parse_duration(const std::string& s, const std::string& flag);

// "2026-11-25 15:03:07.123 +0000 UTC"-like local rendering and RFC3339 for JSON.
std::string format_time(Clock::time_point t);
std::string format_rfc3339(Clock::time_point t);
// "3 minutes ago" style.
std::string format_ago(Clock::time_point t, Clock::time_point now = Clock::now());

Clock::time_point from_timespec(const struct timespec& ts);

}  // namespace pod
