#include "log.hpp"

#include <time.h>
#include <unistd.h>

#include <cstdio>

#include "util/output.hpp"

namespace pod::init {

namespace {
bool g_debug = false;
OutputSink* g_sink = nullptr;

void emit(const std::string& level, const std::string& msg) {
  std::string line = "pod-init: " + level + msg + "\n";
  if (g_sink) g_sink->write(line);
  else (void)!::write(STDERR_FILENO, line.data(), line.size());
}
}  // namespace

void set_log_sink(OutputSink* sink) { g_sink = sink; }
void set_debug(bool on) { g_debug = on; }
bool debug_enabled() { return g_debug; }
void log_error(const std::string& msg) { emit("", msg); }
void log_warn(const std::string& msg) { emit("warning: ", msg); }
// Debug lines carry the time since boot (CLOCK_BOOTTIME: in a VM the guest's
// own, comparable with the kernel's and pod-kvm-boot's timestamps).
void log_debug(const std::string& msg) {
  if (!g_debug) return;
  timespec ts{};
  ::clock_gettime(CLOCK_BOOTTIME, &ts);
  char when[32];
  std::snprintf(when, sizeof when, "[%5ld.%03ld] ", static_cast<long>(ts.tv_sec), ts.tv_nsec / 1000000);
  emit(std::string("debug: ") + when, msg);
}

}  // namespace pod::init
