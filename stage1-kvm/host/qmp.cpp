#include "qmp.hpp"

#include <poll.h>
#include <unistd.h>

#include <cerrno>

#include "../common/frame.hpp"
#include "hostutil.hpp"
#include "util/error.hpp"

namespace podkvm {

Qmp Qmp::connect(const std::string& socket_path, int timeout_ms) {
  Qmp q(connect_unix(socket_path));
  auto greeting = q.read_message(timeout_ms);
  if (!greeting.contains("QMP")) throw pod::Error("qmp: unexpected greeting on " + socket_path);
  q.execute("qmp_capabilities", timeout_ms);
  return q;
}

nlohmann::json Qmp::read_message(int timeout_ms) {
  const int64_t end = now_ms() + timeout_ms;
  for (;;) {
    if (size_t nl = buf_.find('\n'); nl != std::string::npos) {
      std::string line = buf_.substr(0, nl);
      buf_.erase(0, nl + 1);
      auto j = nlohmann::json::parse(line, nullptr, false);
      if (j.is_discarded() || !j.is_object()) throw pod::Error("qmp: malformed message: " + line);
      return j;
    }
    pollfd p{fd_.get(), POLLIN, 0};
    int left = static_cast<int>(std::max<int64_t>(0, end - now_ms()));
    int n = poll(&p, 1, left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) throw pod::Error("qmp: no answer from qemu", ETIMEDOUT);
    char chunk[4096];
    ssize_t r = read(fd_.get(), chunk, sizeof chunk);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) throw pod::Error("qmp: qemu closed the connection");
    buf_.append(chunk, static_cast<size_t>(r));
  }
}

nlohmann::json Qmp::execute(const std::string& command, int timeout_ms) {
  const std::string req = nlohmann::json{{"execute", command}}.dump() + "\n";
  if (!write_all(fd_.get(), req.data(), req.size())) pod::throw_sys("qmp: write");
  for (;;) {
    auto m = read_message(timeout_ms);
    if (m.contains("return")) return m["return"];
    if (m.contains("error"))
      throw pod::Error("qmp " + command + ": " + m["error"].value("desc", m["error"].dump()));
    // an asynchronous event ({"event": …}): not ours
  }
}

}  // namespace podkvm
