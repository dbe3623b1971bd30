// App output to the systemd journal with fields that identify the pod:
// POD_UUID=, POD_APP=, SYSLOG_IDENTIFIER=<app>. `journalctl POD_UUID=<uuid>`
// then shows one pod. Only when booted(); otherwise nothing is sent.
#pragma once
#include <string>

namespace pod::sd {

// syslog(3) priorities.
inline constexpr int kPriorityErr = 3, kPriorityInfo = 6;

// Returns true when the entry went to journald; false when not booted or
// journald refused (never throws).
bool journal_send(const std::string& pod_uuid, const std::string& app, const std::string& message,
                  int priority = kPriorityInfo);

}  // namespace pod::sd
