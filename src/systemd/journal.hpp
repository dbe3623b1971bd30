// App output to the systemd journal with fields that identify the pod:
// POD_UUID=, POD_APP=, SYSLOG_IDENTIFIER=<app>. `journalctl POD_UUID=<uuid>`
// then shows one pod. Only when journald is there (its socket exists, as on
// every host where systemd runs); otherwise nothing is sent and nothing fails.
#pragma once
#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "util/fd.hpp"

namespace pod::sd {

// syslog(3) priorities.
inline constexpr int kPriorityErr = 3, kPriorityInfo = 6;

// Is journald's native socket there to send to?
bool journal_available();

// Returns true when the entry went to journald; false when journald is not
// available or refused it (never throws).
bool journal_send(const std::string& pod_uuid, const std::string& app, const std::string& message,
                  int priority = kPriorityInfo);

// Are our stdout and stderr both the journal (systemd's $JOURNAL_STREAM names
// them, as in a unit with StandardOutput=journal)? A stage1 that forwards the
// apps' log files to the journal then does not copy their output to stdout
// and stderr as well: every line would be in the journal twice.
bool stdio_is_journal();

// Copies what the apps write to $P/logs/<app>.log into the journal, a line
// per entry, as it is written. The log files stay what `pod logs` reads; the
// stage1 run entrypoint of either flavour polls fd() along with its other
// fds and calls pump(), then finish() once the pod is over. The files are
// watched with inotify, so it works whoever writes them: the pod init
// directly (nspawn) or virtiofsd for a VM (kvm).
class JournalForwarder {
 public:
  // nullopt when journald is not available, or (said on stderr) when the
  // log dir cannot be watched: copying to the journal never stops a pod.
  static std::optional<JournalForwarder> open(int pod_dirfd, const std::string& pod_uuid,
                                              const std::vector<std::string>& apps);
  int fd() const { return inotify_.get(); }
  // Send every complete line written since the last call.
  void pump();
  // pump(), then whatever is left without a final newline.
  void finish();

 private:
  struct AppLog {
    std::string app;
    UniqueFd fd;
    std::string partial;
  };
  JournalForwarder() = default;
  void read_app(AppLog& a, bool flush);
  UniqueFd inotify_, logs_;
  std::string uuid_;
  std::vector<AppLog> apps_;
};

}  // namespace pod::sd
