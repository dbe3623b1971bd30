// The pod's networks as stage0 resolves them at prepare time (and again for
// run-prepared --net): CNI configs loaded, validated and copied into
// runtime.json, so that the stage1 and every later gc use exactly them.
#pragma once
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "contract/manifest.hpp"
#include "contract/runtime.hpp"
#include "pod/spec.hpp"

namespace pod::run {

// A stage1 that joins CNI networks says so: annotation pod/stage1/networks = "cni".
inline constexpr const char* kAnnNetworks = "pod/stage1/networks";
bool stage1_joins_cni(const nlohmann::json& stage1_manifest);

// --publish and --port as port mappings; --port NAME:HOSTPORT names an app
// port of the pod manifest and is recorded in its `ports` (appc) too.
std::vector<contract::PortMapping> port_mappings(const PodSpec& spec, contract::PodManifest& m);

// rt.net and rt.networks for `net` ("" = "default" when the stage1 joins CNI
// networks, else "host"). Errors: a usage error for a bad --net or ports
// without a network, not-found for an unknown network, invalid for a bad file.
// Networks are looked up in cni::config_dirs(data_dir, extra_dirs).
void resolve_networks(contract::Runtime& rt, const std::string& net, const std::vector<contract::PortMapping>& ports,
                      const std::string& data_dir, const nlohmann::json& stage1_manifest,
                      const std::vector<std::string>& extra_dirs = {});

}  // namespace pod::run
