#include "util/crashpoint.hpp"

#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

namespace pod {

void crashpoint(const char* name) {
  // Read each time: tests set it in forked children after start-up.
  const char* want = std::getenv("POD_CRASHPOINT");
  if (want && std::strcmp(want, name) == 0) {
    ::kill(::getpid(), SIGKILL);
    ::pause();
  }
  const char* pause_at = std::getenv("POD_PAUSEPOINT");
  if (pause_at && std::strcmp(pause_at, name) == 0) ::raise(SIGSTOP);
}

}  // namespace pod
