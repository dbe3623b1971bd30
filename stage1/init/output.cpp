#include "output.hpp"

#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "log.hpp"
#include "util/error.hpp"

namespace pod::init {

namespace {
// A run of bytes without a newline goes out in pieces of this size (with a
// prefix each), as journald splits its lines.
constexpr size_t kMaxLine = 16 * 1024;
// Reads per pump(): an app that writes without pause must not keep the
// supervisor from its signals.
constexpr int kReadsPerPump = 16;
}  // namespace

Console::Console() { set_log_sink(&err); }
Console::~Console() { set_log_sink(nullptr); }

void Console::add_pollfds(std::vector<pollfd>& p) const {
  for (const OutputSink* s : {&out, &err})
    if (s->backlogged()) p.push_back({s->fd(), POLLOUT, 0});
}

void Console::handle(const std::vector<pollfd>& p) {
  for (const auto& q : p)
    for (OutputSink* s : {&out, &err})
      if (q.fd == s->fd() && (q.events & POLLOUT) && q.revents) s->flush();
}

void Console::finish(int stall_ms) {
  out.finish(stall_ms);
  err.finish(stall_ms);
  if (size_t lost = out.dropped() + err.dropped()) {
    log_warn(std::to_string(lost) + " bytes of the apps' output were not copied to stdout/stderr (not read fast "
             "enough); /pod/logs has all of it");
    err.finish(stall_ms);
  }
}

AppPipes AppPipes::make() {
  AppPipes a;
  for (auto [r, w] : {std::pair{&a.out_r, &a.out_w}, {&a.err_r, &a.err_w}}) {
    int p[2];
    if (::pipe2(p, O_CLOEXEC) < 0) throw_sys("pipe2");
    r->reset(p[0]);
    w->reset(p[1]);
    if (::fcntl(p[0], F_SETFL, O_NONBLOCK) < 0) throw_sys("fcntl O_NONBLOCK");
  }
  return a;
}

void AppLog::write(const char* data, size_t n) {
  if (n == 0 || failed_) return;
  if (times_) {
    struct timespec now {};
    ::clock_gettime(CLOCK_REALTIME, &now);
    if (auto err = times_.note(size_, static_cast<int64_t>(now.tv_sec) * 1000000000 + now.tv_nsec)) log_warn(*err);
  }
  for (size_t done = 0; done < n && !failed_;) {
    ssize_t w = ::write(fd_.get(), data + done, n - done);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      failed_ = true;
      log_warn("cannot write an app's log: " + std::string(w < 0 ? std::strerror(errno) : "short write"));
      break;
    }
    done += static_cast<size_t>(w);
    size_ += static_cast<uint64_t>(w);
  }
}

void AppLog::stream_ended(const std::string& partial) {
  held_ += partial;
  if (--open_ > 0) return;
  write(held_.data(), held_.size());
  held_.clear();
}

AppStream::AppStream(UniqueFd pipe, std::shared_ptr<AppLog> log, OutputSink* console, std::string prefix,
                     std::shared_ptr<CriLog> cri, const char* stream)
    : pipe_(std::move(pipe)), log_(std::move(log)), cri_(std::move(cri)), stream_(stream), console_(console),
      prefix_(std::move(prefix)) {
  log_->stream_opened();
}

bool AppStream::pump() {
  char buf[65536];
  for (int i = 0; pipe_ && i < kReadsPerPump; ++i) {
    ssize_t n = ::read(pipe_.get(), buf, sizeof buf);
    if (n > 0) {
      copy(buf, static_cast<size_t>(n));
    } else if (n < 0 && errno == EAGAIN) {
      return false;
    } else if (n == 0 || errno != EINTR) {
      end();
    }
  }
  return static_cast<bool>(pipe_);
}

void AppStream::drain() {
  while (pump()) {
  }
  end();
}

// The log gets whole lines (or kMaxLine pieces) of each stream, so that a
// line of one stream never glues onto a partial line of the other; the
// console gets them prefixed, or with one app the bytes as they come.
void AppStream::copy(const char* data, size_t n) {
  if (console_ && prefix_.empty()) console_->write(std::string_view(data, n));
  partial_.append(data, n);
  std::string lines;
  size_t start = 0;
  for (;;) {
    // A line of up to kMaxLine bytes goes whole; a longer one (its newline
    // in this read or not yet come) in kMaxLine pieces.
    size_t nl = partial_.find('\n', start);
    if (nl != std::string::npos && nl - start > kMaxLine) nl = std::string::npos;
    if (nl == std::string::npos && partial_.size() - start <= kMaxLine) break;
    const size_t end = nl == std::string::npos ? start + kMaxLine : nl + 1;
    if (cri_)
      cri_->write(stream_, nl != std::string::npos,
                  std::string_view(partial_).substr(start, end - start - (nl != std::string::npos)));
    if (console_ && !prefix_.empty()) {
      lines += prefix_;
      lines.append(partial_, start, end - start);
      if (nl == std::string::npos) lines += '\n';
    }
    start = end;
  }
  log_->write(partial_.data(), start);
  partial_.erase(0, start);
  if (console_ && !lines.empty()) console_->write(lines);
}

void AppStream::end() {
  if (!pipe_) return;
  pipe_.reset();
  log_->stream_ended(partial_);
  if (cri_ && !partial_.empty()) cri_->write(stream_, false, partial_);  // no newline at its end: partial
  if (console_ && !prefix_.empty() && !partial_.empty()) console_->write(prefix_ + partial_ + "\n");
  partial_.clear();
}

}  // namespace pod::init
