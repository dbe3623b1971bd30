#pragma once
#include "pod/types.hpp"
#include "pods/pod.hpp"

namespace pod::api {
// Fill s.net and s.networks from the pod's runtime.json and net.json (an
// unreadable one sets s.network_error instead of failing the status).
// The rootfs mode and (rootless pods) the user namespace's mapping.
void add_rootfs_info(const Pod& pod, PodStatus& s);

void add_networks(const Pod& pod, PodStatus& s);
// CNI CHECK of the running pod's joined networks into s.networks[].check.
void check_networks(const Pod& pod, PodStatus& s);
}  // namespace pod::api
