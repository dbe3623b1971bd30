// Fault injection for crash-safety tests.
//
// crashpoint("name") kills the process with SIGKILL when the environment
// variable POD_CRASHPOINT equals "name". Tests use it to stop an operation
// between any two of its on-disk steps and then check that `pod gc` recovers.
// Without the variable it costs one cached getenv.
//
// The same points stop the process (SIGSTOP) when POD_PAUSEPOINT names them,
// so that a race test can hold one process exactly there while another runs,
// then let it go on with SIGCONT.
#pragma once

namespace pod {

void crashpoint(const char* name);

}  // namespace pod
