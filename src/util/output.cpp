#include "util/output.hpp"

#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

namespace pod {

OutputSink::OutputSink(int fd, size_t limit) : fd_(fd), limit_(limit) {
  struct stat st;
  if (::fstat(fd, &st) < 0) {
    closed_ = true;
    return;
  }
  if (S_ISFIFO(st.st_mode) || S_ISCHR(st.st_mode)) {
    // A description of our own, so that O_NONBLOCK stays ours.
    const std::string self = "/proc/self/fd/" + std::to_string(fd);
    own_.reset(::open(self.c_str(), O_WRONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC));
    mode_ = own_ ? Mode::kNonBlocking : Mode::kPollFirst;
  } else if (S_ISSOCK(st.st_mode)) {
    mode_ = Mode::kSocket;
  }
}

long OutputSink::write_some(const char* p, size_t n) {
  for (;;) {
    ssize_t w;
    switch (mode_) {
      case Mode::kNonBlocking:
        w = ::write(own_.get(), p, n);
        break;
      case Mode::kSocket:
        w = ::send(fd_, p, n, MSG_DONTWAIT | MSG_NOSIGNAL);
        break;
      case Mode::kPollFirst: {
        // POLLOUT on a pipe means PIPE_BUF bytes fit without blocking.
        pollfd q{fd_, POLLOUT, 0};
        if (::poll(&q, 1, 0) <= 0 || !(q.revents & POLLOUT)) return (q.revents & (POLLERR | POLLHUP)) ? -1 : 0;
        w = ::write(fd_, p, n < PIPE_BUF ? n : PIPE_BUF);
        break;
      }
      default:
        w = ::write(fd_, p, n);
    }
    if (w >= 0) return w;
    if (errno == EINTR) continue;
    return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -1;
  }
}

void OutputSink::write(std::string_view data) {
  if (closed_) {
    dropped_ += data.size();
    return;
  }
  if (backlogged()) {
    if (pending_.size() + data.size() > limit_) dropped_ += data.size();
    else pending_.append(data);
    flush();
    return;
  }
  size_t done = 0;
  while (done < data.size()) {
    long w = write_some(data.data() + done, data.size() - done);
    if (w < 0) {
      closed_ = true;
      dropped_ += data.size() - done;
      return;
    }
    if (w == 0) break;
    done += static_cast<size_t>(w);
  }
  // A part written already: keep the rest whatever the limit, or the
  // reader would see a cut line.
  if (done == 0 && data.size() > limit_) dropped_ += data.size();
  else pending_.append(data.substr(done));
}

void OutputSink::flush() {
  size_t done = 0;
  while (!closed_ && done < pending_.size()) {
    long w = write_some(pending_.data() + done, pending_.size() - done);
    if (w < 0) {
      closed_ = true;
      dropped_ += pending_.size() - done;
      done = pending_.size();
    }
    if (w <= 0) break;
    done += static_cast<size_t>(w);
  }
  pending_.erase(0, done);
}

void OutputSink::finish(int stall_ms) {
  while (backlogged()) {
    pollfd q{fd(), POLLOUT, 0};
    int r = ::poll(&q, 1, stall_ms);
    if (r < 0 && errno == EINTR) continue;
    const size_t before = pending_.size();
    if (r > 0) flush();
    if (r <= 0 || (pending_.size() == before && backlogged())) {  // stalled, or POLLERR without progress
      dropped_ += pending_.size();
      pending_.clear();
    }
  }
}

}  // namespace pod
