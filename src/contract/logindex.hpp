// logtimes/<app>: when the lines of logs/<app>.log arrived, the time index
// `pod logs --since/--until/--timestamps` reads (Documentation/stage1-abi.md,
// "The log time index"). The pod init, which writes the log, writes it too:
//   a 16-byte header: "podlogi1" and 8 zero bytes,
//   then 16-byte records: u64 (little-endian) the log offset where a write of
//   whole lines (or a 16 KiB piece of one) starts, i64 (little-endian) the
//   CLOCK_REALTIME ns when the init read those bytes from the app.
// A record is written before the bytes it times, at most one per kMinGapNs:
// the bytes of a line belong to the last record at or before the line's start,
// so a time is never later than the line's arrival and at most kMinGapNs
// earlier. Offsets never decrease; times do not either unless the clock steps
// back. Crash-safe by construction: a torn last record (or header) is not
// read, and the writer cuts it before appending again.
#pragma once
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "util/fd.hpp"

namespace pod::logindex {

inline constexpr size_t kHeaderSize = 16;
inline constexpr size_t kRecordSize = 16;
inline constexpr int64_t kMinGapNs = 1'000'000;  // 1 ms

struct Record {
  uint64_t offset = 0;
  int64_t ns = 0;
};

std::string header();
std::string encode(const Record& r);
Record decode(const char* p);  // kRecordSize bytes

// The init's side: appends records for one app's log.
class Writer {
 public:
  Writer() = default;
  // Opens (creates) `name` under `dirfd` for the log whose size is now
  // `log_size`. Repairs what a crash or an older log left: a torn header
  // starts a new index, a torn last record is cut, and an index whose last
  // record points past the log's end (the log was removed and started anew)
  // is started anew. Throws on a system error.
  static Writer open(int dirfd, const std::string& name, uint64_t log_size);
  // The bytes about to be written at `offset` arrived at `ns`: a record,
  // unless the last one is less than kMinGapNs older. A write error empties
  // the index (no times rather than wrong ones) and is said once, as the
  // returned message; the index stays off then.
  std::optional<std::string> note(uint64_t offset, int64_t ns);
  explicit operator bool() const { return static_cast<bool>(fd_); }

 private:
  UniqueFd fd_;
  bool has_last_ = false;
  Record last_;
};

// The reader's side: random access to the records of an index that may still
// grow (pread, a small window buffered).
class Reader {
 public:
  Reader() = default;
  explicit Reader(UniqueFd fd) : fd_(std::move(fd)) {}
  // Whole records now in the file (0 without an index or with a bad header).
  size_t refresh();
  size_t size() const { return count_; }
  bool valid() const { return fd_ && !bad_header_; }
  Record at(size_t i);
  // The first record with ns >= t (binary search: times in order), or size().
  size_t first_at_or_after(int64_t ns);
  // The first record with offset > `offset`, or size().
  size_t first_after_offset(uint64_t offset);

 private:
  UniqueFd fd_;
  bool checked_header_ = false, bad_header_ = false;
  size_t count_ = 0;
  std::vector<char> window_;
  size_t window_first_ = 0, window_count_ = 0;
};

// The time of the log's bytes as a reader goes forward through them.
class Cursor {
 public:
  explicit Cursor(Reader& r) : r_(&r) {}
  // The time of the line starting at `offset` (the last record at or before
  // it), nullopt when no record is (bytes older than the index). Offsets
  // passed never decrease; the records must be refreshed (Reader::refresh)
  // after the bytes at `offset` were read (a record is written before its bytes).
  std::optional<int64_t> time_at(uint64_t offset);

 private:
  Reader* r_;
  bool started_ = false;
  size_t next_ = 0;  // records before it are at or before the last offset asked
  std::optional<int64_t> current_;
};

// "2006-01-02T15:04:05.000000000Z" (RFC 3339, UTC, 9 fraction digits: fixed width).
std::string format_rfc3339_nano(int64_t unix_ns);

}  // namespace pod::logindex
