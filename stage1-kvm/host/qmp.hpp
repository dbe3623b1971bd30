// A minimal QMP client (the QEMU Machine Protocol, JSON lines over the unix
// socket qemu serves with -qmp): enough for pause (stop), resume (cont) and
// query-status.
#pragma once
#include <nlohmann/json.hpp>
#include <string>

#include "util/fd.hpp"

namespace podkvm {

class Qmp {
 public:
  // Connects and negotiates capabilities; throws pod::Error.
  static Qmp connect(const std::string& socket_path, int timeout_ms = 5000);
  // Runs `command` and returns its "return" value; a QMP error is a pod::Error.
  nlohmann::json execute(const std::string& command, int timeout_ms = 5000);

 private:
  explicit Qmp(pod::UniqueFd fd) : fd_(std::move(fd)) {}
  nlohmann::json read_message(int timeout_ms);  // skips nothing: the caller skips events
  pod::UniqueFd fd_;
  std::string buf_;
};

}  // namespace podkvm
