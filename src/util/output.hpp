// Copying the apps' output to a stdout or stderr that nobody may be reading.
//
// An OutputSink writes to an fd this process shares with others (its own
// stdout/stderr: a terminal, a pipe to `grep`, a file, a journal socket)
// without ever blocking the caller: what the fd does not take at once is kept,
// up to a limit, and written when poll() says POLLOUT; beyond the limit new
// data is dropped (whole write() calls, so that callers writing whole lines
// never see one cut). A reader that went away (EPIPE) ends the copy.
//
// The fd's own flags are left alone (O_NONBLOCK on a pipe shared with the
// user's shell would leak to other writers of it): a pipe or a terminal is
// opened again through /proc/self/fd with O_NONBLOCK, a socket is written with
// MSG_DONTWAIT, a regular file with plain writes. SIGPIPE must be ignored.
//
// Used by the pod init (stage1/init) and the kvm host side; libc only.
#pragma once
#include <cstddef>
#include <string>
#include <string_view>

#include "util/fd.hpp"

namespace pod {

class OutputSink {
 public:
  static constexpr size_t kDefaultLimit = 1 << 20;

  explicit OutputSink(int fd, size_t limit = kDefaultLimit);
  OutputSink(const OutputSink&) = delete;
  OutputSink& operator=(const OutputSink&) = delete;

  // Queue `data` and write what the fd takes now.
  void write(std::string_view data);
  // The fd to poll for POLLOUT while backlogged(); then call flush().
  int fd() const { return own_ ? own_.get() : fd_; }
  bool backlogged() const { return !closed_ && !pending_.empty(); }
  void flush();
  // Before exit: write the backlog, giving up when the reader has taken
  // nothing for `stall_ms`.
  void finish(int stall_ms);
  // Bytes dropped so far (limit reached, reader gone or stalled at finish()).
  size_t dropped() const { return dropped_; }

 private:
  enum class Mode { kNonBlocking, kSocket, kPlain, kPollFirst };
  // One write attempt; bytes taken, 0 when it would block, -1 when closed.
  long write_some(const char* p, size_t n);
  int fd_;
  UniqueFd own_;
  Mode mode_ = Mode::kPlain;
  size_t limit_;
  std::string pending_;
  size_t dropped_ = 0;
  bool closed_ = false;
};

}  // namespace pod
