// One app's log read with its time index (contract/logindex.hpp): the lines
// that arrived within LogOptions::since/until, each stamped with its time
// when LogOptions::timestamps asks (Runtime::read_logs, logs.cpp).
#pragma once
#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <pod/pod.hpp>

#include "contract/logindex.hpp"

namespace pod::api {

// Whether the options need the index at all.
bool wants_times(const LogOptions& o);

class TimedLines {
 public:
  // `index`: the index's path under `pod_dirfd` (opened when there, again
  // and again until it is: a log may be older than its index's creation).
  TimedLines(int pod_dirfd, std::string index, const LogOptions& o);
  TimedLines(const TimedLines&) = delete;
  TimedLines& operator=(const TimedLines&) = delete;
  // Where to start reading the log `logfd`, no earlier than `from` (a line
  // start: a tail's): with `since`, the first record at or after it (the
  // index seeked, the log not scanned).
  off_t start(int logfd, off_t from);
  // The log's bytes at `offset` (read before this call: their records are in
  // the index by now) as they are to be shown, appended to `out`.
  void feed(uint64_t offset, std::string_view data, std::string& out);
  // A line past `until` was seen: nothing later can be shown (times in order).
  bool done() const { return done_; }
  // Lines without a recorded time (older than the index, or no index): left
  // out with since/until, shown without a stamp otherwise.
  size_t untimed() const { return untimed_; }

 private:
  void refresh();
  int pod_dirfd_;
  std::string path_;
  std::optional<int64_t> since_, until_;
  bool stamps_;
  logindex::Reader reader_;
  logindex::Cursor cursor_{reader_};
  bool line_start_ = true, keep_ = true, done_ = false;
  size_t untimed_ = 0;
  int64_t stamp_ns_ = 0;
  std::string stamp_;
};

}  // namespace pod::api
