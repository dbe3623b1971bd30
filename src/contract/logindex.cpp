#include "contract/logindex.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "util/error.hpp"

namespace pod::logindex {

namespace {

constexpr char kMagic[8] = {'p', 'o', 'd', 'l', 'o', 'g', 'i', '1'};
constexpr size_t kWindow = 512;  // records read at a time

void put_u64(char* p, uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<char>((v >> (8 * i)) & 0xff);
}

uint64_t get_u64(const char* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v |= static_cast<uint64_t>(static_cast<unsigned char>(p[i])) << (8 * i);
  return v;
}

bool pread_exact(int fd, char* buf, size_t n, off_t at) {
  for (size_t done = 0; done < n;) {
    ssize_t r = ::pread(fd, buf + done, n - done, at + static_cast<off_t>(done));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) throw_sys("cannot read a log time index");
    if (r == 0) return false;
    done += static_cast<size_t>(r);
  }
  return true;
}

bool write_exact(int fd, const std::string& s) {
  for (size_t done = 0; done < s.size();) {
    ssize_t w = ::write(fd, s.data() + done, s.size() - done);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    done += static_cast<size_t>(w);
  }
  return true;
}

}  // namespace

std::string header() {
  std::string h(kHeaderSize, '\0');
  std::memcpy(h.data(), kMagic, sizeof kMagic);
  return h;
}

std::string encode(const Record& r) {
  std::string s(kRecordSize, '\0');
  put_u64(s.data(), r.offset);
  put_u64(s.data() + 8, static_cast<uint64_t>(r.ns));
  return s;
}

Record decode(const char* p) { return {get_u64(p), static_cast<int64_t>(get_u64(p + 8))}; }

Writer Writer::open(int dirfd, const std::string& name, uint64_t log_size) {
  Writer w;
  w.fd_.reset(::openat(dirfd, name.c_str(), O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0640));
  if (!w.fd_) throw_sys("cannot open " + name);
  struct stat st;
  if (::fstat(w.fd_.get(), &st) < 0) throw_sys("cannot stat " + name);
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  char head[kHeaderSize];
  bool fresh = size < kHeaderSize || !pread_exact(w.fd_.get(), head, kHeaderSize, 0) ||
               std::memcmp(head, kMagic, sizeof kMagic) != 0;
  uint64_t keep = fresh ? 0 : size - (size - kHeaderSize) % kRecordSize;  // a torn last record is cut
  if (!fresh && keep > kHeaderSize) {
    char rec[kRecordSize];
    if (!pread_exact(w.fd_.get(), rec, kRecordSize, static_cast<off_t>(keep - kRecordSize)))
      throw Error("log time index " + name + " shrank while it was opened");
    w.last_ = decode(rec);
    w.has_last_ = true;
    if (w.last_.offset > log_size) {  // the index of an earlier log of that name
      fresh = true;
      keep = 0;
      w.has_last_ = false;
    }
  }
  if (keep != size && ::ftruncate(w.fd_.get(), static_cast<off_t>(keep)) < 0) throw_sys("cannot truncate " + name);
  if (fresh && !write_exact(w.fd_.get(), header())) throw_sys("cannot write " + name);
  return w;
}

std::optional<std::string> Writer::note(uint64_t offset, int64_t ns) {
  if (!fd_) return std::nullopt;
  if (has_last_ && ns - last_.ns < kMinGapNs && ns >= last_.ns) return std::nullopt;
  const Record r{offset, ns};
  errno = 0;
  if (write_exact(fd_.get(), encode(r))) {
    last_ = r;
    has_last_ = true;
    return std::nullopt;
  }
  const std::string why = errno ? std::strerror(errno) : "short write";
  // Lines after a record that is missing would get an older line's time: no times at all instead.
  (void)::ftruncate(fd_.get(), 0);
  fd_.reset();
  return "cannot write an app's log time index (" + why + "): it is emptied, pod logs will show no times for it";
}

size_t Reader::refresh() {
  if (!fd_ || bad_header_) return count_;
  struct stat st;
  if (::fstat(fd_.get(), &st) < 0) throw_sys("cannot stat a log time index");
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  if (size < kHeaderSize) return count_ = 0;
  if (!checked_header_) {
    char head[kHeaderSize];
    bad_header_ = !pread_exact(fd_.get(), head, kHeaderSize, 0) || std::memcmp(head, kMagic, sizeof kMagic) != 0;
    checked_header_ = true;
    if (bad_header_) return count_ = 0;
  }
  count_ = (size - kHeaderSize) / kRecordSize;  // a torn last record is not one
  return count_;
}

Record Reader::at(size_t i) {
  if (i < window_first_ || i >= window_first_ + window_count_) {
    window_first_ = i;
    window_count_ = std::min(kWindow, count_ - i);
    window_.resize(window_count_ * kRecordSize);
    if (!pread_exact(fd_.get(), window_.data(), window_.size(),
                     static_cast<off_t>(kHeaderSize + i * kRecordSize))) {
      window_count_ = 0;
      throw Error("a log time index shrank while it was read");
    }
  }
  return decode(window_.data() + (i - window_first_) * kRecordSize);
}

size_t Reader::first_at_or_after(int64_t ns) {
  size_t lo = 0, hi = count_;
  while (lo < hi) {
    const size_t mid = lo + (hi - lo) / 2;
    if (at(mid).ns < ns) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

size_t Reader::first_after_offset(uint64_t offset) {
  size_t lo = 0, hi = count_;
  while (lo < hi) {
    const size_t mid = lo + (hi - lo) / 2;
    if (at(mid).offset <= offset) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

std::optional<int64_t> Cursor::time_at(uint64_t offset) {
  if (!started_) {
    next_ = r_->first_after_offset(offset);
    if (next_ > 0) current_ = r_->at(next_ - 1).ns;
    started_ = true;
  }
  while (next_ < r_->size()) {
    const Record r = r_->at(next_);
    if (r.offset > offset) break;
    current_ = r.ns;
    ++next_;
  }
  return current_;
}

std::string format_rfc3339_nano(int64_t unix_ns) {
  int64_t secs = unix_ns / 1000000000, frac = unix_ns % 1000000000;
  if (frac < 0) {
    frac += 1000000000;
    --secs;
  }
  const time_t t = static_cast<time_t>(secs);
  struct tm tm {};
  ::gmtime_r(&t, &tm);
  char buf[64];
  size_t n = ::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  std::snprintf(buf + n, sizeof buf - n, ".%09lldZ", static_cast<long long>(frac));
  return buf;
}

}  // namespace pod::logindex
