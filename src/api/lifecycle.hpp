// Shared by the API's pod calls (runtime.cpp) and the lifecycle operations (lifecycle.cpp).
#pragma once
#include "api/impl.hpp"
#include "pods/pod.hpp"

namespace pod::api {

// Resume the pod if it is paused (under its control lock): stop needs the
// pod's processes to run to see the signal.
void thaw_if_paused(bool debug, const Pod& pod);

}  // namespace pod::api
