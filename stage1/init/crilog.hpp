// An app's output in the CRI log format, the file the kubelet reads
// (`kubectl logs`) and rotates: one record per line of either stream,
//   <RFC 3339 time, UTC, ns, trailing zeros cut> <stdout|stderr> <F|P> <content>\n
// F ends a line of the app (its newline not in the content); P is a piece of
// one: a run of 16 KiB without a newline, or the stream's last bytes when it
// ends without one (as containerd writes it). The file is opened on the host
// (its path is the host's) and handed to the init over the control socket
// (SCM_RIGHTS), at add and again at reopen-log, when the kubelet has renamed
// the old one away.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>

#include "util/fd.hpp"

namespace pod::init {

// One record (exposed for tests).
std::string cri_log_record(int64_t unix_ns, std::string_view stream, bool full, std::string_view content);

class CriLog {
 public:
  explicit CriLog(UniqueFd fd) : fd_(std::move(fd)) {}
  // A new file from now on (the old one is closed).
  void reopen(UniqueFd fd);
  // One line (full) or piece of one, of "stdout" or "stderr"; a write error is said once, on stderr.
  void write(std::string_view stream, bool full, std::string_view content);

 private:
  UniqueFd fd_;
  bool failed_ = false;
};

}  // namespace pod::init
