// Shared by the API's pod calls (runtime.cpp) and the lifecycle operations (lifecycle.cpp).
#pragma once
#include "api/impl.hpp"
#include "pods/pod.hpp"

#include <functional>
#include <string>

namespace pod::api {

// Resume the pod if it is paused (under its control lock): stop needs the
// pod's processes to run to see the signal.
void thaw_if_paused(bool debug, const Pod& pod);

// Fork a child that runs `exec_stage1` (which execs the stage1 run entrypoint
// or throws); `detach`: with stdio /dev/null, in a session of its own.
RunningPod start_child(const std::string& uuid, const std::function<void()>& exec_stage1, bool detach);

}  // namespace pod::api
