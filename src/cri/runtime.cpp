// Version, Status and UpdateRuntimeConfig of the CRI RuntimeService.
#include "cri/runtime.hpp"

#include <algorithm>
#include <iostream>

#include "config.h"
#include "cri/status.hpp"

namespace pod::cri {

namespace v1 = runtime::v1;

grpc::Status RuntimeService::Version(grpc::ServerContext*, const v1::VersionRequest*, v1::VersionResponse* resp) {
  resp->set_version("0.1.0");  // the version of the kubelet runtime API (the CRI's own convention)
  resp->set_runtime_name("pod");
  resp->set_runtime_version(POD_VERSION);
  resp->set_runtime_api_version("v1");
  return grpc::Status::OK;
}

namespace {
void condition(v1::RuntimeStatus* st, const char* type, const std::string& problem, const char* reason) {
  auto* c = st->add_conditions();
  c->set_type(type);
  c->set_status(problem.empty());
  if (!problem.empty()) {
    c->set_reason(reason);
    c->set_message(problem);
  }
}
}  // namespace

grpc::Status RuntimeService::Status(grpc::ServerContext*, const v1::StatusRequest* req, v1::StatusResponse* resp) {
  return guarded("Status", [&] {
    std::string runtime_problem, network_problem;
    try {
      auto rt = env_.runtime();
      const HostFeatures f = pod::Runtime::host_features();
      const std::string flavor = env_.opts.stage1_flavor.empty() ? f.default_flavor : env_.opts.stage1_flavor;
      const auto& inst = f.installed_flavors;
      if (std::find(inst.begin(), inst.end(), flavor) == inst.end())
        runtime_problem = "the stage1 flavour \"" + flavor + "\" is not installed";
      try {
        rt.check_network(env_.opts.net);
      } catch (const pod::Error& e) {
        network_problem = e.what();
      }
    } catch (const pod::Error& e) {
      runtime_problem = e.what();
      network_problem = "the runtime is not ready";
    }
    auto* st = resp->mutable_status();
    condition(st, "RuntimeReady", runtime_problem, "PodRuntimeNotReady");
    condition(st, "NetworkReady", network_problem, "PodNetworkNotReady");
    if (req->verbose()) (*resp->mutable_info())["dataDir"] = env_.data_dir;
    // The one (default) handler: a read-only mount is read-only all the way down (containers.cpp, mounts_of),
    // so the kubelet may ask for recursive read-only; it has no user namespaces for pods.
    resp->add_runtime_handlers()->mutable_features()->set_recursive_read_only_mounts(true);
    return grpc::Status::OK;
  });
}

grpc::Status RuntimeService::UpdateRuntimeConfig(grpc::ServerContext*, const v1::UpdateRuntimeConfigRequest* req,
                                                 v1::UpdateRuntimeConfigResponse*) {
  // The kubelet hands the node's pod CIDR here; pod's networks take their subnets from their CNI
  // configs (Documentation/kubernetes.md), so the CIDR is reported, not applied.
  if (req->has_runtime_config() && req->runtime_config().has_network_config())
    std::cerr << "pod-cri: the kubelet's pod CIDR is " << req->runtime_config().network_config().pod_cidr()
              << "; sandboxes get the subnet of network \"" << env_.opts.net << "\"\n";
  return grpc::Status::OK;
}

}  // namespace pod::cri
