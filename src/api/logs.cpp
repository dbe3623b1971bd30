// Runtime::read_logs: the apps' logs/<app>.log (Documentation/stage1-abi.md),
// their last lines and, following, what is appended while the pod runs; with
// since/until/timestamps through their time index (logtimes.hpp).
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <memory>

#include "api/impl.hpp"
#include "api/logtimes.hpp"
#include "appc/names.hpp"
#include "contract/poddir.hpp"
#include "pods/walk.hpp"
#include "util/fs.hpp"
#include "util/time.hpp"

namespace pod {

namespace {

constexpr size_t kChunk = 64 * 1024;

// Offset of the start of the last `n` lines of `fd` (a last line without a
// newline counts as one).
off_t tail_offset(int fd, size_t n) {
  struct stat st;
  if (::fstat(fd, &st) < 0) throw_sys("stat of a log");
  off_t pos = st.st_size;
  if (n == 0) return pos;
  size_t newlines = 0;
  bool skip_last = true;  // the newline that ends the last line
  std::string buf(kChunk, '\0');
  while (pos > 0) {
    off_t start = std::max<off_t>(0, pos - static_cast<off_t>(kChunk));
    ssize_t got = ::pread(fd, buf.data(), static_cast<size_t>(pos - start), start);
    if (got < 0) throw_sys("read of a log");
    for (ssize_t i = got - 1; i >= 0; --i) {
      if (buf[static_cast<size_t>(i)] != '\n') {
        skip_last = false;
        continue;
      }
      if (skip_last) {
        skip_last = false;
        continue;
      }
      if (++newlines == n) return start + i + 1;
    }
    pos = start;
  }
  return 0;
}

struct Follower {
  std::string app, file;
  UniqueFd fd;
  off_t offset = 0;
  bool started = false;  // the first open placed the offset (tail, since)
  std::unique_ptr<api::TimedLines> timed;  // with since/until/timestamps
};

bool has_ended(PodState s) {
  return s != PodState::Embryo && s != PodState::Preparing && s != PodState::Prepared && s != PodState::Running;
}

}  // namespace

void Runtime::read_logs(const std::string& uuid, const LogOptions& opts,
                        const std::function<bool(const std::string&, const std::string&)>& sink) const {
  api::guarded([&] {
    Pod pod = lookup_pod(impl_->store, uuid);
    std::vector<std::string> names;
    for (const auto& a : read_pod_info(pod, pod.state()).apps) names.push_back(a.name);
    std::vector<Follower> fs;
    for (const auto& want : opts.apps) {
      if (!appc::is_ac_name(want)) throw usage_error("\"" + want + "\" is not an app name");
      if (std::find(names.begin(), names.end(), want) == names.end())
        throw usage_error("pod " + pod.uuid() + " has no app named \"" + want + "\"");
    }
    for (const auto& n : names)
      if (opts.apps.empty() || std::find(opts.apps.begin(), opts.apps.end(), n) != opts.apps.end())
        fs.push_back({n, poddir::app_log(n), UniqueFd(), 0, false,
                      api::wants_times(opts) ? std::make_unique<api::TimedLines>(pod.fd(), poddir::app_log_times(n), opts)
                                             : nullptr});
    std::string buf(kChunk, '\0'), shown;
    // One pass over every log: what was appended since the last one.
    auto pass = [&]() -> std::optional<bool> {  // nullopt: the sink is done; else whether anything came
      bool any = false;
      for (auto& f : fs) {
        if (!f.fd) {
          f.fd.reset(::openat(pod.fd(), f.file.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
          if (!f.fd) {
            if (errno != ENOENT) throw_sys("cannot open " + f.file);
            continue;
          }
          if (!f.started) f.offset = opts.tail ? tail_offset(f.fd.get(), *opts.tail) : 0;
          if (!f.started && f.timed) f.offset = f.timed->start(f.fd.get(), f.offset);
          f.started = true;
        }
        while (!f.timed || !f.timed->done()) {
          ssize_t n = ::pread(f.fd.get(), buf.data(), buf.size(), f.offset);
          if (n < 0 && errno == EINTR) continue;
          if (n < 0) throw_sys("cannot read " + f.file);
          if (n == 0) break;
          any = true;
          if (f.timed) {
            shown.clear();
            f.timed->feed(static_cast<uint64_t>(f.offset), std::string_view(buf.data(), static_cast<size_t>(n)), shown);
          }
          f.offset += n;
          if (f.timed && shown.empty()) continue;
          if (!sink(f.app, f.timed ? shown : buf.substr(0, static_cast<size_t>(n)))) return std::nullopt;
        }
      }
      return any;
    };
    auto all_done = [&] {
      return std::all_of(fs.begin(), fs.end(), [](const Follower& f) { return f.timed && f.timed->done(); });
    };
    // What could not be timed is said, not silently dropped or left unstamped.
    auto report = [&] {
      for (const auto& f : fs)
        if (f.timed && f.timed->untimed())
          impl_->notice("app " + f.app + ": " + std::to_string(f.timed->untimed()) +
                        " lines of its log have no recorded time (written before its time index began, or by a pod "
                        "init without one): " + (opts.since || opts.until ? "left out" : "shown without a time"));
    };
    // A first open of a log that does not exist yet starts at its beginning
    // (everything it will get is new), whatever `tail` says.
    auto r = pass();
    for (auto& f : fs) f.started = true;
    if (!r) return;
    if (!opts.follow || all_done()) return report();
    for (;;) {
      // Before the pass: nothing written before it is missed. Past `until`
      // (and a little more: a line is timed when the init read it, written
      // right after) nothing new can be shown.
      const bool ended = has_ended(pod.state()) ||
                         (opts.until && Clock::now() > *opts.until + std::chrono::milliseconds(200));
      r = pass();
      if (!r) return;
      if ((ended && !*r) || all_done()) return report();
      if (!*r) api::sleep_ms(100);
    }
  });
}

}  // namespace pod
