// The log time index (contract/logindex.hpp), its reading by pod logs
// (api/logtimes.hpp) and the times pod logs --since/--until take (util/time.hpp).
#include <doctest/doctest.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>

#include "api/logtimes.hpp"
#include "contract/logindex.hpp"
#include "helpers.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"
#include "util/time.hpp"

using namespace pod;
using podtest::TempDir;

namespace {

constexpr int64_t kT0 = 1767366245LL * 1000000000;  // 2026-01-02T15:04:05Z


std::string contents(int dirfd, const char* name) {
  return read_file_at(dirfd, name, 1 << 20);
}

size_t records_in(int dirfd, const char* name) {
  logindex::Reader r(UniqueFd(::openat(dirfd, name, O_RDONLY | O_CLOEXEC)));
  return r.refresh();
}

void append(int dirfd, const char* name, const std::string& bytes) {
  UniqueFd fd(::openat(dirfd, name, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644));
  REQUIRE(fd);
  REQUIRE(::write(fd.get(), bytes.data(), bytes.size()) == static_cast<ssize_t>(bytes.size()));
}

TimePoint at_ns(int64_t ns) { return TimePoint(std::chrono::duration_cast<TimePoint::duration>(std::chrono::nanoseconds(ns))); }

// A log of three lines at kT0, +1 s, +2 s, indexed as the init indexes it.
void three_lines(int dirfd) {
  logindex::Writer w = logindex::Writer::open(dirfd, "idx", 0);
  uint64_t off = 0;
  int64_t t = kT0;
  for (const std::string line : {"one\n", "two\n", "three\n"}) {
    REQUIRE_FALSE(w.note(off, t));
    append(dirfd, "log", line);
    off += line.size();
    t += 1000000000;
  }
}

// What pod logs shows of "log" with these options.
std::string shown(int dirfd, const LogOptions& o, size_t* untimed = nullptr) {
  api::TimedLines tl(dirfd, "idx", o);
  UniqueFd log(::openat(dirfd, "log", O_RDONLY | O_CLOEXEC));
  REQUIRE(log);
  const std::string all = contents(dirfd, "log");
  const off_t from = tl.start(log.get(), 0);
  std::string out;
  // Fed in pieces of 3 bytes: lines cross the pieces.
  for (size_t i = static_cast<size_t>(from); i < all.size() && !tl.done(); i += 3)
    tl.feed(i, std::string_view(all).substr(i, 3), out);
  if (untimed) *untimed = tl.untimed();
  return out;
}

}  // namespace

TEST_CASE("log time index: records are written at most one per millisecond, in a fixed format") {
  TempDir d;
  UniqueFd dir = open_dir(d.path());
  logindex::Writer w = logindex::Writer::open(dir.get(), "idx", 0);
  CHECK_FALSE(w.note(0, kT0));
  CHECK_FALSE(w.note(10, kT0 + 999999));  // within 1 ms of the last: none
  CHECK_FALSE(w.note(20, kT0 + 1000000));
  const std::string s = contents(dir.get(), "idx");
  REQUIRE(s.size() == logindex::kHeaderSize + 2 * logindex::kRecordSize);
  CHECK(s.substr(0, 8) == "podlogi1");
  const logindex::Record r = logindex::decode(s.data() + 32);
  CHECK(r.offset == 20);
  CHECK(r.ns == kT0 + 1000000);
  CHECK(s[32] == 20);  // little-endian
}

TEST_CASE("log time index: a torn last record is not read and is cut before the next append") {
  TempDir d;
  UniqueFd dir = open_dir(d.path());
  three_lines(dir.get());
  append(dir.get(), "idx", std::string(7, 'x'));  // kill -9 in the middle of a record
  CHECK(records_in(dir.get(), "idx") == 3);
  logindex::Writer w = logindex::Writer::open(dir.get(), "idx", 14);
  CHECK(contents(dir.get(), "idx").size() == 16 + 3 * 16);
  CHECK_FALSE(w.note(14, kT0 + 5000000000));
  CHECK(records_in(dir.get(), "idx") == 4);
}

TEST_CASE("log time index: a torn header, garbage, or the index of an earlier log starts a new one") {
  TempDir d;
  UniqueFd dir = open_dir(d.path());
  append(dir.get(), "idx", "podl");
  CHECK(records_in(dir.get(), "idx") == 0);
  { logindex::Writer::open(dir.get(), "idx", 0); }
  CHECK(contents(dir.get(), "idx") == logindex::header());
  // Not an index at all: the reader refuses it, the writer replaces it.
  ::unlinkat(dir.get(), "idx", 0);
  append(dir.get(), "idx", std::string(48, 'g'));
  logindex::Reader r(UniqueFd(::openat(dir.get(), "idx", O_RDONLY | O_CLOEXEC)));
  CHECK(r.refresh() == 0);
  CHECK_FALSE(r.valid());
  { logindex::Writer::open(dir.get(), "idx", 0); }
  CHECK(contents(dir.get(), "idx") == logindex::header());
  // Its last record points past the log's end: the log was removed and begun anew.
  three_lines(dir.get());
  CHECK(records_in(dir.get(), "idx") == 3);
  { logindex::Writer::open(dir.get(), "idx", 5); }
  CHECK(records_in(dir.get(), "idx") == 0);
}

TEST_CASE("log time index: reader search and cursor") {
  TempDir d;
  UniqueFd dir = open_dir(d.path());
  three_lines(dir.get());
  logindex::Reader r(UniqueFd(::openat(dir.get(), "idx", O_RDONLY | O_CLOEXEC)));
  REQUIRE(r.refresh() == 3);
  CHECK(r.first_at_or_after(kT0 - 1) == 0);
  CHECK(r.first_at_or_after(kT0 + 1) == 1);
  CHECK(r.first_at_or_after(kT0 + 2000000000) == 2);
  CHECK(r.first_at_or_after(kT0 + 2000000001) == 3);
  CHECK(r.first_after_offset(3) == 1);
  CHECK(r.first_after_offset(4) == 2);
  logindex::Cursor c(r);
  CHECK(c.time_at(4) == kT0 + 1000000000);
  CHECK(c.time_at(7) == kT0 + 1000000000);
  CHECK(c.time_at(8) == kT0 + 2000000000);
  CHECK(logindex::format_rfc3339_nano(kT0 + 5) == "2026-01-02T15:04:05.000000005Z");
  CHECK(logindex::format_rfc3339_nano(kT0) == "2026-01-02T15:04:05.000000000Z");
}

TEST_CASE("pod logs times: since, until, timestamps, and lines without a time") {
  TempDir d;
  UniqueFd dir = open_dir(d.path());
  three_lines(dir.get());
  LogOptions o;
  o.since = at_ns(kT0 + 500000000);
  CHECK(shown(dir.get(), o) == "two\nthree\n");
  o.until = at_ns(kT0 + 1000000000);
  CHECK(shown(dir.get(), o) == "two\n");
  o = {};
  o.timestamps = true;
  CHECK(shown(dir.get(), o) == "2026-01-02T15:04:05.000000000Z one\n2026-01-02T15:04:06.000000000Z two\n"
                               "2026-01-02T15:04:07.000000000Z three\n");
  o = {};
  o.since = at_ns(kT0 + 3000000000);  // after the last line
  CHECK(shown(dir.get(), o) == "");
  // A record in the middle of a line (a 16 KiB piece): that line began before it.
  logindex::Writer w = logindex::Writer::open(dir.get(), "idx", 14);
  REQUIRE_FALSE(w.note(14, kT0 + 3000000000));
  append(dir.get(), "log", "four");
  REQUIRE_FALSE(w.note(18, kT0 + 4000000000));
  append(dir.get(), "log", "-rest\nfive\n");
  o.since = at_ns(kT0 + 3500000000);
  CHECK(shown(dir.get(), o) == "five\n");
  o.since = at_ns(kT0 + 2500000000);
  CHECK(shown(dir.get(), o) == "four-rest\nfive\n");
  // Lines older than the index (an older init wrote them): left out by since, unstamped otherwise.
  ::unlinkat(dir.get(), "idx", 0);
  { logindex::Writer::open(dir.get(), "idx", 29); }
  {
    logindex::Writer w2 = logindex::Writer::open(dir.get(), "idx", 29);
    REQUIRE_FALSE(w2.note(29, kT0 + 9000000000));
  }
  append(dir.get(), "log", "six\n");
  size_t untimed = 0;
  o = {};
  o.since = at_ns(0);
  CHECK(shown(dir.get(), o, &untimed) == "six\n");
  CHECK(untimed == 5);
  o = {};
  o.timestamps = true;
  CHECK(shown(dir.get(), o, &untimed) == "one\ntwo\nthree\nfour-rest\nfive\n2026-01-02T15:04:14.000000000Z six\n");
  CHECK(untimed == 5);
  // No index at all: nothing is timed.
  ::unlinkat(dir.get(), "idx", 0);
  o = {};
  o.until = at_ns(kT0 + 100000000000);
  CHECK(shown(dir.get(), o, &untimed) == "");
  CHECK(untimed == 6);
}

TEST_CASE("parse_time_point: RFC 3339, Unix times and durations before now; bad values name the flag") {
  const TimePoint now = at_ns(kT0 + 3600LL * 1000000000);
  CHECK(parse_time_point("2026-01-02T15:04:05Z", "--since", now) == at_ns(kT0));
  CHECK(parse_time_point("2026-01-02t15:04:05.25z", "--since", now) == at_ns(kT0 + 250000000));
  CHECK(parse_time_point("2026-01-02T16:04:05.000000001+01:00", "--since", now) == at_ns(kT0 + 1));
  CHECK(parse_time_point("2026-01-02T14:34:05-00:30", "--since", now) == at_ns(kT0));
  CHECK(parse_time_point("1767366245", "--since", now) == at_ns(kT0));
  CHECK(parse_time_point("1767366245.5", "--since", now) == at_ns(kT0 + 500000000));
  CHECK(parse_time_point("10m", "--since", now) == now - std::chrono::minutes(10));
  CHECK(parse_time_point("1h30m", "--since", now) == now - std::chrono::minutes(90));
  CHECK(parse_time_point("0", "--since", now) == now);
  // Without a zone: local time (this process's TZ).
  ::setenv("TZ", "UTC", 1);
  ::tzset();
  CHECK(parse_time_point("2026-01-02T15:04:05", "--since", now) == at_ns(kT0));
  CHECK(parse_time_point("2026-01-02", "--since", now) == at_ns(kT0 - (15 * 3600 + 4 * 60 + 5) * 1000000000LL));
  for (const char* bad : {"", "yesterday", "10x", "2026-02-30T00:00:00Z", "2026-01-02T25:00:00Z", "2026-01-02T15:04Z",
                          "2026-01-02T15:04:05+0100", "2026-01-02T15:04:05.Z", "1767366245.", "-10m", "1e9",
                          "2026-01-02T15:04:05.1234567890Z", "2026-01-02T15:04:05Zjunk", "999999999999",
                          "9999-12-31T23:59:59Z"}) {
    CAPTURE(bad);
    const std::string msg = podtest::error_message([&] { parse_time_point(bad, "--until", now); });
    CHECK(msg == std::string("invalid time \"") + bad + "\" for --until (use RFC 3339 like 2026-01-02T15:04:05Z, a "
                 "Unix time like 1767366245, or a duration before now like 10m or 1h30m)");
  }
}
