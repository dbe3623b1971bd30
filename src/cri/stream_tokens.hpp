// The streaming server's pending requests (Documentation/kubernetes.md, "Streaming"): the Exec and
// PortForward RPCs cache their validated request under a random single-use token and answer with the URL
// http://ADDR/KIND/TOKEN, which the client then opens. A token is taken once; unused, it expires after the
// cache's lifetime (a minute, as the kubelet's). No dependency on gRPC or the HTTP layer (unit-tested).
#pragma once
#include <chrono>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace pod::cri {

struct ExecRequest {
  std::string uuid, app;  // the container's pod and app
  std::vector<std::string> cmd;
  bool in = false, out = false, err = false, tty = false;
};

struct PortForwardRequest {
  std::string uuid;        // the sandbox
  std::vector<int> ports;  // those of the RPC; the URL's ?port= values, when given, take their place
};

using StreamRequest = std::variant<ExecRequest, PortForwardRequest>;

class TokenCache {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr size_t kMaxPending = 1024;  // more outstanding tokens: ResourceExhausted (Conflict)

  explicit TokenCache(Clock::duration lifetime = std::chrono::minutes(1)) : lifetime_(lifetime) {}
  // A new token (32 hex digits from getrandom) for `r`.
  std::string put(StreamRequest r);
  // The request of a token and its end; nullopt when it is unknown, was taken already or has expired.
  std::optional<StreamRequest> take(const std::string& token);

 private:
  void drop_expired(Clock::time_point now);  // with m_ held
  struct Entry {
    Clock::time_point expires;
    StreamRequest request;
  };
  const Clock::duration lifetime_;
  std::mutex m_;
  std::map<std::string, Entry> pending_;
};

}  // namespace pod::cri
