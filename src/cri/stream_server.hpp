// The CRI streaming server (Documentation/kubernetes.md, "Streaming"): where the URLs the Exec and
// PortForward RPCs answer with lead. HTTP on --stream-address:--stream-port (loopback and a free port by
// default) with libwebsockets in one event-loop thread; /exec/TOKEN and /portforward/TOKEN are websocket
// upgrades of the kubelet's channel protocols v5.channel.k8s.io and v4.channel.k8s.io (port-forward also
// without a subprotocol, as the kubelet). SPDY is not served. An unknown, used or expired token: 404.
#pragma once
#include <memory>
#include <string>
#include <thread>

#include "cri/env.hpp"
#include "cri/stream_tokens.hpp"

namespace pod::cri {

class StreamServer {
 public:
  // Listens at once (a taken address is an Io error naming it); serves until destroyed.
  explicit StreamServer(const Env& env);
  ~StreamServer();
  StreamServer(const StreamServer&) = delete;
  StreamServer& operator=(const StreamServer&) = delete;

  // A URL for `req`: http://ADDR:PORT/exec/TOKEN or …/portforward/TOKEN.
  std::string url_for(StreamRequest req);
  // http://ADDR:PORT (the address really bound: the port chosen when --stream-port is 0).
  const std::string& base_url() const { return base_; }

  struct Loop;  // the event loop's state (stream_server.cpp)

 private:
  TokenCache tokens_;
  std::unique_ptr<Loop> loop_;
  std::string base_;
  std::thread thread_;
};

}  // namespace pod::cri
