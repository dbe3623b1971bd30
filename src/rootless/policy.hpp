// What a rootless pod can and cannot have, checked by `pod prepare` before
// anything is written (Documentation/rootless.md).
#pragma once
#include <nlohmann/json.hpp>
#include <string>

#include "contract/manifest.hpp"
#include "contract/runtime.hpp"

namespace pod::rootless {

// The stage1 annotation a flavour that runs pods without root declares ("true").
inline constexpr const char* kAnnRootless = "pod/stage1/rootless";

// Refuses a stage1 that does not declare kAnnRootless, resource limits when no
// cgroup is delegated to the user, and CNI networks (which need root on the
// host), and published host ports below net.ipv4.ip_unprivileged_port_start.
// `net` is the pod's --net value.
void check_pod(const contract::PodManifest& m, const std::string& net, const std::vector<contract::PortMapping>& ports,
               const nlohmann::json& stage1_manifest, const std::string& stage1_name);

// Why no cgroup can hold a rootless pod's limits here: "" when one could.
std::string why_no_delegated_cgroup();

}  // namespace pod::rootless
