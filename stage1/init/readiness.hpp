// Readiness inside the pod init (Documentation/systemd.md, "Readiness"):
// telling the stage1 run entrypoint that the pod is up or ready, and learning
// which apps have sent READY=1 from their records in $P/appready
// (contract/appready.hpp), which the run entrypoint writes as the apps' own
// datagrams arrive on their NOTIFY_SOCKET.
#pragma once
#include <optional>
#include <string>

#include "util/fd.hpp"

namespace pod::init {

// Tell the stage1 run entrypoint, if it asked (POD_INIT_NOTIFY), that we are
// up ("STATUS=starting") or ready ("READY=1"). The kernel attaches our
// credentials, so the receiver learns our pid as seen from its pid namespace.
void notify_stage1(const std::string& msg);

// The apps' readiness records: an inotify watch on the directory the stage1
// names in $POD_APP_READY_DIR (it writes them there), and a reader per app.
class ReadyWatch {
 public:
  // nullopt when the stage1 gives no such directory: then it records no
  // readiness, and the init waits for none (the kvm flavour).
  static std::optional<ReadyWatch> from_env();
  int fd() const { return inotify_.get(); }
  // Read the pending events (call when fd() is readable).
  void drain();
  // Has `app` said READY=1 (its record says so)?
  bool ready(const std::string& app) const;

 private:
  explicit ReadyWatch(const std::string& dir);
  UniqueFd dir_, inotify_;
};

}  // namespace pod::init
