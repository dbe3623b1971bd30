#include "systemd/journal.hpp"

#include <systemd/sd-journal.h>

#include "systemd/sd.hpp"

namespace pod::sd {

bool journal_send(const std::string& pod_uuid, const std::string& app, const std::string& message, int priority) {
  if (!booted()) return false;
  const std::string ident = app.empty() ? "pod" : app;
  int r = sd_journal_send("MESSAGE=%s", message.c_str(), "PRIORITY=%i", priority, "POD_UUID=%s", pod_uuid.c_str(),
                          "POD_APP=%s", app.c_str(), "SYSLOG_IDENTIFIER=%s", ident.c_str(), nullptr);
  return r == 0;
}

}  // namespace pod::sd
