#include "api/logtimes.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "util/error.hpp"

namespace pod::api {

namespace {
int64_t unix_ns(TimePoint t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}


// Newlines in [from, to) of `fd`.
size_t count_lines(int fd, off_t from, off_t to) {
  std::string buf(64 * 1024, '\0');
  size_t n = 0;
  while (from < to) {
    ssize_t got = ::pread(fd, buf.data(), static_cast<size_t>(std::min<off_t>(to - from, static_cast<off_t>(buf.size()))), from);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) throw_sys("cannot read a log");
    if (got == 0) break;
    n += static_cast<size_t>(std::count(buf.begin(), buf.begin() + got, '\n'));
    from += got;
  }
  return n;
}

}  // namespace

bool wants_times(const LogOptions& o) { return o.since || o.until || o.timestamps; }

TimedLines::TimedLines(int pod_dirfd, std::string index, const LogOptions& o)
    : pod_dirfd_(pod_dirfd), path_(std::move(index)), stamps_(o.timestamps) {
  if (o.since) since_ = unix_ns(*o.since);
  if (o.until) until_ = unix_ns(*o.until);
}

void TimedLines::refresh() {
  if (!reader_.valid()) {
    UniqueFd fd(::openat(pod_dirfd_, path_.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
    if (!fd && errno != ENOENT) throw_sys("cannot open " + path_);
    if (!fd) return;
    reader_ = logindex::Reader(std::move(fd));
    cursor_ = logindex::Cursor(reader_);
  }
  reader_.refresh();
}

off_t TimedLines::start(int logfd, off_t from) {
  struct stat st;
  if (::fstat(logfd, &st) < 0) throw_sys("cannot stat a log");  // before the index: its records cover these bytes
  refresh();
  if (!since_ || reader_.size() == 0) return from;
  const size_t i = reader_.first_at_or_after(*since_);
  off_t at = i < reader_.size() ? static_cast<off_t>(reader_.at(i).offset) : st.st_size;
  at = std::min(at, st.st_size);
  if (at <= from) return from;
  // Lines before the first record have no time: skipped, but counted (a scan of that part only).
  const off_t timed_from = std::min<off_t>(static_cast<off_t>(reader_.at(0).offset), at);
  if (timed_from > from) untimed_ += count_lines(logfd, from, timed_from);
  char before = '\n';
  if (::pread(logfd, &before, 1, at - 1) != 1) throw_sys("cannot read a log");
  line_start_ = before == '\n';  // else the rest of an older line (a 16 KiB piece was timed)
  keep_ = line_start_;
  return at;
}

void TimedLines::feed(uint64_t offset, std::string_view data, std::string& out) {
  refresh();
  size_t i = 0;
  while (i < data.size() && !done_) {
    if (line_start_) {
      const std::optional<int64_t> t = reader_.valid() ? cursor_.time_at(offset + i) : std::nullopt;
      if (!t) {
        ++untimed_;
        keep_ = !since_ && !until_;
      } else if (until_ && *t > *until_) {
        done_ = true;
        break;
      } else {
        keep_ = !since_ || *t >= *since_;
      }
      if (keep_ && stamps_ && t) {
        if (*t != stamp_ns_ || stamp_.empty()) stamp_ = logindex::format_rfc3339_nano(stamp_ns_ = *t) + " ";
        out += stamp_;  // lines of one record share it: formatted once
      }
      line_start_ = false;
    }
    const void* nl = std::memchr(data.data() + i, '\n', data.size() - i);
    const size_t end = nl ? static_cast<size_t>(static_cast<const char*>(nl) - data.data()) + 1 : data.size();
    if (keep_) out.append(data.data() + i, end - i);
    line_start_ = nl != nullptr;
    i = end;
  }
}

}  // namespace pod::api
