// The CRI gRPC server (`pod cri`, Documentation/kubernetes.md).
#pragma once
#include <functional>
#include <string>

#include "cri/env.hpp"

namespace pod::cri {

// Serve the RuntimeService and the ImageService on env.opts.listen (unix://PATH)
// until SIGTERM, SIGINT or SIGHUP. One server per socket: a second one on the
// same path is a Conflict error (the socket's lock file, PATH.lock, is held).
// The socket is made 0600 (whoever reaches it runs pods as root). The
// streaming server (cri/stream_server.hpp) serves Exec and PortForward's URLs
// alongside. `listening` is called once requests are accepted, with
// "unix://PATH, streaming on http://ADDR:PORT".
void serve(const Env& env, const std::function<void(const std::string&)>& listening = {});

}  // namespace pod::cri
