// An app's readiness as it told it over sd_notify (Documentation/systemd.md,
// "Readiness"): $P/appready/<app>, JSON {"ready": bool, "readyAt": ns since
// the epoch, "status": the last STATUS= text}. Written (atomically) by the
// stage1's run entrypoint, which receives what the app sends on its
// NOTIFY_SOCKET; read by the pod init (--after NAME:ready, the pod's
// `ready`) and by `pod status` / `pod app status`. No file: the app has said
// nothing (yet), or gets no NOTIFY_SOCKET.
//
// Compiled into the static pod init too: nlohmann_json and util/error only.
#pragma once
#include <cstdint>
#include <optional>
#include <string>

namespace pod::contract {

struct AppReadiness {
  bool ready = false;
  int64_t ready_at_ns = 0;  // when READY=1 arrived; 0 = not ready
  std::string status;       // the last STATUS= line's text
};

// Apply one sd_notify datagram (already filtered, newline-separated lines):
// READY=1 makes it ready (the first time counts), STATUS= replaces the status.
// Returns whether anything changed.
bool apply_notify(AppReadiness& r, const std::string& message, int64_t now_ns);

std::string format_app_readiness(const AppReadiness& r);
// nullopt for text that is no such record (a torn or foreign file).
std::optional<AppReadiness> parse_app_readiness(const std::string& text);

}  // namespace pod::contract
