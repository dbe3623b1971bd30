// The pod init's messages go to its stderr (the pod's console: the run
// entrypoint's stderr under nspawn, the serial console under kvm).
#pragma once
#include <string>

namespace pod::init {

void set_debug(bool on);
bool debug_enabled();
void log_error(const std::string& msg);
void log_warn(const std::string& msg);
void log_debug(const std::string& msg);

}  // namespace pod::init
