// Serving the metadata service (service.cpp) over HTTP with libmicrohttpd.
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "mds/mds.hpp"

namespace pod::mds {

inline constexpr const char* kDefaultListen = "tcp://127.0.0.1:18112";

// Serve the pods of `data_dir` until SIGTERM, SIGINT or SIGHUP. Listens on
// the sockets systemd passed (socket activation) and on each `listen`
// address (tcp://IPV4:PORT or unix:PATH); on kDefaultListen when there are
// neither. `started` is called with each address once it accepts requests.
void serve(const std::string& data_dir, const std::vector<std::string>& listen,
           const std::function<void(const std::string&)>& started);

}  // namespace pod::mds
