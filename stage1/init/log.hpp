// The pod init's messages go to its stderr (the run entrypoint's stderr
// under nspawn; under kvm run's stderr too when it relays the init's output,
// else the serial console).
#pragma once
#include <string>

namespace pod {
class OutputSink;
}

namespace pod::init {

// Where the messages go instead of a plain write(2) to stderr (nullptr: back
// to that): the init's stderr sink while it copies the apps' output there.
void set_log_sink(OutputSink* sink);

void set_debug(bool on);
bool debug_enabled();
void log_error(const std::string& msg);
void log_warn(const std::string& msg);
void log_debug(const std::string& msg);

}  // namespace pod::init
