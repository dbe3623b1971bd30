#include "systemd/journal.hpp"
#include "systemd/sd_api.hpp"

#include <fcntl.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstdio>
#include <cstring>

#include "util/error.hpp"
#include "util/fs.hpp"

namespace pod::sd {

namespace {
constexpr const char* kJournalSocket = "/run/systemd/journal/socket";
// journald's own line limit (LINE_MAX of its stream protocol); a longer run
// of bytes without a newline goes out in pieces of this size.
constexpr size_t kMaxLine = 48 * 1024;
}  // namespace

bool journal_available() { return ::access(kJournalSocket, W_OK) == 0; }

bool stdio_is_journal() {
  const char* env = ::getenv("JOURNAL_STREAM");  // "<device>:<inode>", decimal
  unsigned long long dev = 0, ino = 0;
  if (!env || std::sscanf(env, "%llu:%llu", &dev, &ino) != 2) return false;
  for (int fd : {STDOUT_FILENO, STDERR_FILENO}) {
    struct stat st;
    if (::fstat(fd, &st) < 0 || st.st_dev != dev || st.st_ino != ino) return false;
  }
  return true;
}

bool journal_send(const std::string& pod_uuid, const std::string& app, const std::string& message, int priority) {
  if (!journal_available()) return false;
  const std::string ident = app.empty() ? "pod" : app;
  int r = libsystemd().journal_send("MESSAGE=%s", message.c_str(), "PRIORITY=%i", priority, "POD_UUID=%s", pod_uuid.c_str(),
                          "POD_APP=%s", app.c_str(), "SYSLOG_IDENTIFIER=%s", ident.c_str(), nullptr);
  return r == 0;
}

std::optional<JournalForwarder> JournalForwarder::open(int pod_dirfd, const std::string& pod_uuid,
                                                       const std::vector<std::string>& apps) {
  if (!journal_available()) return std::nullopt;
  JournalForwarder f;
  f.uuid_ = pod_uuid;
  f.logs_ = mkdirs_at(pod_dirfd, "logs");
  // The dir, not the files: a file the pod init has not created yet is
  // seen as soon as it appears. Out of inotify instances or watches (a
  // per-user limit a host with many pods can reach) the pod still runs.
  int in = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (in >= 0) f.inotify_.reset(in);
  if (in < 0 ||
      ::inotify_add_watch(in, fd_path(f.logs_.get()).c_str(), IN_MODIFY | IN_CREATE | IN_CLOSE_WRITE) < 0) {
    std::fprintf(stderr, "pod: cannot watch %s (%s): the apps' output stays in the log files only\n",
                 fd_path(f.logs_.get()).c_str(), std::strerror(errno));
    return std::nullopt;
  }
  for (const auto& a : apps) f.apps_.push_back({a, UniqueFd(), ""});
  return f;
}

void JournalForwarder::read_app(AppLog& a, bool flush) {
  if (!a.fd) {
    int fd = ::openat(logs_.get(), (a.app + ".log").c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) return;  // not written yet
    a.fd.reset(fd);
  }
  char buf[65536];
  ssize_t n;
  while ((n = ::read(a.fd.get(), buf, sizeof buf)) > 0) {
    a.partial.append(buf, static_cast<size_t>(n));
    size_t start = 0, nl;
    while ((nl = a.partial.find('\n', start)) != std::string::npos || a.partial.size() - start >= kMaxLine) {
      size_t end = nl == std::string::npos ? start + kMaxLine : nl;
      journal_send(uuid_, a.app, a.partial.substr(start, end - start));
      start = nl == std::string::npos ? end : nl + 1;
    }
    a.partial.erase(0, start);
  }
  if (flush && !a.partial.empty()) {
    journal_send(uuid_, a.app, a.partial);
    a.partial.clear();
  }
}

void JournalForwarder::pump() {
  char ev[4096];
  while (::read(inotify_.get(), ev, sizeof ev) > 0) {
  }
  for (auto& a : apps_) read_app(a, false);
}

void JournalForwarder::finish() {
  pump();
  for (auto& a : apps_) read_app(a, true);
}

}  // namespace pod::sd
