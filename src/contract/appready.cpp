#include "contract/appready.hpp"

#include <nlohmann/json.hpp>

namespace pod::contract {

bool apply_notify(AppReadiness& r, const std::string& message, int64_t now_ns) {
  bool changed = false;
  size_t i = 0;
  while (i < message.size()) {
    size_t j = message.find('\n', i);
    if (j == std::string::npos) j = message.size();
    const std::string line = message.substr(i, j - i);
    if (line == "READY=1" && !r.ready) {
      r.ready = true;
      r.ready_at_ns = now_ns;
      changed = true;
    } else if (line.rfind("STATUS=", 0) == 0 && line.substr(7) != r.status) {
      r.status = line.substr(7);
      changed = true;
    }
    i = j + 1;
  }
  return changed;
}

std::string format_app_readiness(const AppReadiness& r) {
  nlohmann::json j = {{"ready", r.ready}};
  if (r.ready_at_ns) j["readyAt"] = r.ready_at_ns;
  if (!r.status.empty()) j["status"] = r.status;
  return j.dump() + "\n";
}

std::optional<AppReadiness> parse_app_readiness(const std::string& text) {
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("ready") || !j["ready"].is_boolean()) return std::nullopt;
  AppReadiness r;
  r.ready = j["ready"].get<bool>();
  if (j.contains("readyAt") && j["readyAt"].is_number_integer()) r.ready_at_ns = j["readyAt"].get<int64_t>();
  if (j.contains("status") && j["status"].is_string()) r.status = j["status"].get<std::string>();
  return r;
}

}  // namespace pod::contract
