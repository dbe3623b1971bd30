// Fault injection for crash-safety tests.
//
// crashpoint("name") kills the process with SIGKILL when the environment
// variable POD_CRASHPOINT equals "name". Tests use it to stop an operation
// between any two of its on-disk steps and then check that `pod gc` recovers.
// Without the variable it costs one cached getenv.
#pragma once

namespace pod {

void crashpoint(const char* name);

}  // namespace pod
