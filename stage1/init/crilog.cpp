#include "crilog.hpp"

#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "log.hpp"

namespace pod::init {

std::string cri_log_record(int64_t unix_ns, std::string_view stream, bool full, std::string_view content) {
  const time_t secs = static_cast<time_t>(unix_ns / 1000000000);
  struct tm tm {};
  ::gmtime_r(&secs, &tm);
  char ts[64];
  size_t n = ::strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
  if (long frac = static_cast<long>(unix_ns % 1000000000)) {  // RFC3339Nano: the fraction without trailing zeros
    char digits[16];
    ::snprintf(digits, sizeof digits, ".%09ld", frac);
    size_t len = std::strlen(digits);
    while (digits[len - 1] == '0') --len;
    std::memcpy(ts + n, digits, len);
    n += len;
  }
  std::string out(ts, n);
  out += "Z ";
  out += stream;
  out += full ? " F " : " P ";
  out += content;
  out += '\n';
  return out;
}

void CriLog::reopen(UniqueFd fd) {
  fd_ = std::move(fd);
  failed_ = false;
}

void CriLog::write(std::string_view stream, bool full, std::string_view content) {
  struct timespec now {};
  ::clock_gettime(CLOCK_REALTIME, &now);
  const std::string rec =
      cri_log_record(static_cast<int64_t>(now.tv_sec) * 1000000000 + now.tv_nsec, stream, full, content);
  for (size_t done = 0; done < rec.size() && !failed_;) {
    ssize_t w = ::write(fd_.get(), rec.data() + done, rec.size() - done);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      failed_ = true;  // until the next reopen
      log_warn("cannot write an app's CRI log: " + std::string(w < 0 ? std::strerror(errno) : "short write"));
      break;
    }
    done += static_cast<size_t>(w);
  }
}

}  // namespace pod::init
