// Unpacking a layer while it downloads. The download writes the blob file as
// always (resumable, verified against its digest); each chunk it reports is
// also sent through a socket pair to a thread that unpacks it, so a fetch
// costs about the longer of the two instead of their sum. A transfer that
// starts over (a registry ignoring a Range request) makes the streamed copy
// worthless: the thread's result is dropped and the finished blob is
// unpacked again from the file. The thread's own failure (a hostile layer)
// is the fetch's error once the download is done.
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <exception>
#include <thread>
#include <vector>

#include "images/index.hpp"
#include "images/ocisource.hpp"
#include "images/store.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"
#include "util/progress.hpp"

namespace pod::images {

namespace {

// The unpacking thread, joined (with its write end closed first) on every way out.
class Unpacker {
 public:
  template <class F>
  Unpacker(UniqueFd read_end, UniqueFd write_end, F body) : write_(std::move(write_end)) {
    thread_ = std::thread([this, fd = std::move(read_end), body]() mutable {
      try {
        bytes_ = body(fd.get());
      } catch (...) {
        error_ = std::current_exception();
      }
    });
  }
  ~Unpacker() { join(); }
  Unpacker(const Unpacker&) = delete;
  Unpacker& operator=(const Unpacker&) = delete;

  // Sends [from, to) of the blob file; nothing once the thread stopped reading (it failed).
  void send(int blob_fd, uint64_t from, uint64_t to) {
    if (!write_) return;
    std::vector<char> buf(1 << 16);
    while (from < to) {
      const size_t want = static_cast<size_t>(std::min<uint64_t>(buf.size(), to - from));
      ssize_t n = ::pread(blob_fd, buf.data(), want, static_cast<off_t>(from));
      if (n <= 0) throw_sys("cannot read back the layer being downloaded");
      for (ssize_t off = 0; off < n;) {
        ssize_t w = ::send(write_.get(), buf.data() + off, static_cast<size_t>(n - off), MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0) {
          write_.reset();  // EPIPE: the thread gave up; its error is reported after the download
          return;
        }
        off += w;
      }
      from += static_cast<uint64_t>(n);
    }
  }
  // The stream is complete: the thread finishes, its error (if any) is thrown.
  uint64_t finish() {
    join();
    if (error_) std::rethrow_exception(error_);
    return bytes_;
  }

 private:
  void join() {
    write_.reset();  // EOF for the thread
    if (thread_.joinable()) thread_.join();
  }
  UniqueFd write_;
  std::thread thread_;
  std::exception_ptr error_;
  uint64_t bytes_ = 0;
};

}  // namespace

uint64_t ImageStore::download_and_unpack(OciSource& src, const OciLayer& l, int stage_fd, bool unpack,
                                         const FetchOptions& o, const LayerLimits& lim) {
  int fd = ::openat(stage_fd, "blob", O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0444);
  if (fd < 0) throw_sys("cannot create a layer blob");
  UniqueFd blob(fd);
  ProgressLine bar("layer " + l.digest.substr(7, 12), l.size, ProgressLine::wanted(o.quiet));
  if (!unpack) {
    src.blob_to_fd(l.digest, fd, l.size, [&](uint64_t n) { bar.update(n); });
    return 0;
  }
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) throw_sys("cannot create a socket pair");
  UniqueFd rd(sv[0]), wr(sv[1]);
  bool restarted = false;
  uint64_t sent = 0;
  {
    Unpacker unpacker(std::move(rd), std::move(wr), [this, &l, stage_fd, &o, &lim](int in) {
      return unpack_layer(l, in, stage_fd, o.allow_devices, lim);
    });
    src.blob_to_fd(l.digest, fd, l.size, [&](uint64_t n) {
      bar.update(n);
      if (n < sent) restarted = true;  // the transfer started over: what was streamed is void
      if (!restarted && n > sent) {
        unpacker.send(fd, sent, n);
        sent = n;
      }
    });
    // Whatever the source wrote after its last report.
    const uint64_t size = static_cast<uint64_t>(stat_fd(fd).st_size);
    if (!restarted && size > sent) unpacker.send(fd, sent, size);
    try {
      const uint64_t bytes = unpacker.finish();
      if (!restarted) return bytes;
    } catch (const Error&) {
      if (!restarted) throw;
    }
  }
  // Start over from the complete blob.
  if (exists_at(stage_fd, "tree")) remove_tree_at(stage_fd, "tree");
  UniqueFd again = open_beneath(stage_fd, "blob", O_RDONLY);
  return unpack_layer(l, again.get(), stage_fd, o.allow_devices, lim);
}

}  // namespace pod::images
