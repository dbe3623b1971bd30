#include "log.hpp"

#include <unistd.h>

namespace pod::init {

namespace {
bool g_debug = false;

void emit(const std::string& level, const std::string& msg) {
  std::string line = "pod-init: " + level + msg + "\n";
  (void)!::write(STDERR_FILENO, line.data(), line.size());
}
}  // namespace

void set_debug(bool on) { g_debug = on; }
bool debug_enabled() { return g_debug; }
void log_error(const std::string& msg) { emit("", msg); }
void log_warn(const std::string& msg) { emit("warning: ", msg); }
void log_debug(const std::string& msg) {
  if (g_debug) emit("debug: ", msg);
}

}  // namespace pod::init
