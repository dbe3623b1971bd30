// The apps' output when the pod is neither interactive nor attached to a
// terminal: each app writes to two pipes (stdout, stderr) that the init reads
// in its supervisor loop. Everything goes to /pod/logs/<app>.log (what `pod
// logs` and the journal forwarder read; never dropped), a line at a time per
// stream, so that the two streams interleave only at line ends (a line is
// written once it is complete, 16 KiB long, or the stream ends), each write
// timed in /pod/logtimes/<app> (contract/logindex.hpp). Unless the stage1
// said not to (copies_output), it is also
// copied to the init's own stdout (the app's stdout) or stderr (the app's
// stderr) through a non-blocking OutputSink: with several apps in the pod in
// whole lines, each prefixed "<app>: " (a last line without a newline gets one
// when the stream ends); with one app the bytes as they come.
#pragma once
#include <poll.h>

#include <memory>
#include <string>
#include <vector>

#include "contract/logindex.hpp"
#include "crilog.hpp"
#include "util/fd.hpp"
#include "util/output.hpp"

namespace pod::init {

// The init's stdout and stderr as sinks for the apps' output. While it
// exists the init's own messages go through `err` too (log.hpp), so that they
// never block the init either.
struct Console {
  Console();
  ~Console();
  Console(const Console&) = delete;
  Console& operator=(const Console&) = delete;
  OutputSink out{1}, err{2};
  void add_pollfds(std::vector<pollfd>& p) const;
  void handle(const std::vector<pollfd>& p);
  void finish(int stall_ms);
};

// An app's log file, shared by its two streams, and its time index.
class AppLog {
 public:
  // `size`: the log's size now (it is appended to); `times` may be closed (no index).
  AppLog(UniqueFd fd, uint64_t size, logindex::Writer times)
      : fd_(std::move(fd)), size_(size), times_(std::move(times)) {}
  // Appends all of it, timed (a failure is said once, on stderr).
  void write(const char* data, size_t n);
  void stream_opened() { ++open_; }
  // A stream's last line without a newline: written once no other stream of
  // the app is open (it would glue onto that stream's next line).
  void stream_ended(const std::string& partial);

 private:
  UniqueFd fd_;
  uint64_t size_;
  logindex::Writer times_;
  int open_ = 0;
  std::string held_;
  bool failed_ = false;
};

// One app's stdout or stderr.
class AppStream {
 public:
  // `console`: where the output is copied to, or null. `cri`, when the app
  // has a CRI log file: each line goes there too, tagged `stream` (crilog.hpp).
  AppStream(UniqueFd pipe, std::shared_ptr<AppLog> log, OutputSink* console, std::string prefix,
            std::shared_ptr<CriLog> cri = nullptr, const char* stream = "stdout");
  AppStream(AppStream&&) = default;
  int fd() const { return pipe_.get(); }
  // Read what the app wrote (non-blocking, a bounded amount); at end of
  // file the pipe is closed and the last partial line flushed. True when
  // there may be more to read right away.
  bool pump();
  // Read everything there is now, then close (after the apps are gone).
  void drain();

 private:
  void copy(const char* data, size_t n);
  void end();
  UniqueFd pipe_;
  std::shared_ptr<AppLog> log_;
  std::shared_ptr<CriLog> cri_;
  const char* stream_;
  OutputSink* console_;
  std::string prefix_, partial_;
};

// The pipes for one app, made before it starts: the write ends go to the
// app's stdout and stderr, the read ends become its AppStreams.
struct AppPipes {
  UniqueFd out_r, out_w, err_r, err_w;
  static AppPipes make();
};

}  // namespace pod::init
