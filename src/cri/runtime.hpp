// The CRI RuntimeService: runtime information here (runtime.cpp); sandboxes
// and containers over pod's apps-in-a-running-pod API follow in their own files.
#pragma once
#include "api.grpc.pb.h"
#include "cri/env.hpp"
#include <map>
#include <pod/pod.hpp>
#include <string>

namespace pod::cri {

class StreamServer;

// Does `have` hold every label of the selector `want` (the CRI's list filters)?
bool labels_match(const google::protobuf::Map<std::string, std::string>& want,
                  const std::map<std::string, std::string>& have);

class RuntimeService final : public runtime::v1::RuntimeService::Service {
 public:
  // `streams` serves the URLs of Exec and PortForward (none: they are UNAVAILABLE).
  explicit RuntimeService(const Env& env, StreamServer* streams = nullptr) : env_(env), streams_(streams) {}
  grpc::Status Version(grpc::ServerContext*, const runtime::v1::VersionRequest*,
                       runtime::v1::VersionResponse*) override;
  grpc::Status Status(grpc::ServerContext*, const runtime::v1::StatusRequest*,
                      runtime::v1::StatusResponse*) override;
  grpc::Status UpdateRuntimeConfig(grpc::ServerContext*, const runtime::v1::UpdateRuntimeConfigRequest*,
                                   runtime::v1::UpdateRuntimeConfigResponse*) override;

  // sandbox.cpp
  grpc::Status RunPodSandbox(grpc::ServerContext*, const runtime::v1::RunPodSandboxRequest*, runtime::v1::RunPodSandboxResponse*) override;
  grpc::Status StopPodSandbox(grpc::ServerContext*, const runtime::v1::StopPodSandboxRequest*, runtime::v1::StopPodSandboxResponse*) override;
  grpc::Status RemovePodSandbox(grpc::ServerContext*, const runtime::v1::RemovePodSandboxRequest*, runtime::v1::RemovePodSandboxResponse*) override;
  grpc::Status PodSandboxStatus(grpc::ServerContext*, const runtime::v1::PodSandboxStatusRequest*, runtime::v1::PodSandboxStatusResponse*) override;
  grpc::Status ListPodSandbox(grpc::ServerContext*, const runtime::v1::ListPodSandboxRequest*, runtime::v1::ListPodSandboxResponse*) override;
  // containers.cpp
  grpc::Status CreateContainer(grpc::ServerContext*, const runtime::v1::CreateContainerRequest*, runtime::v1::CreateContainerResponse*) override;
  grpc::Status StartContainer(grpc::ServerContext*, const runtime::v1::StartContainerRequest*, runtime::v1::StartContainerResponse*) override;
  grpc::Status StopContainer(grpc::ServerContext*, const runtime::v1::StopContainerRequest*, runtime::v1::StopContainerResponse*) override;
  grpc::Status RemoveContainer(grpc::ServerContext*, const runtime::v1::RemoveContainerRequest*, runtime::v1::RemoveContainerResponse*) override;
  grpc::Status ContainerStatus(grpc::ServerContext*, const runtime::v1::ContainerStatusRequest*, runtime::v1::ContainerStatusResponse*) override;
  grpc::Status ListContainers(grpc::ServerContext*, const runtime::v1::ListContainersRequest*, runtime::v1::ListContainersResponse*) override;
  grpc::Status ReopenContainerLog(grpc::ServerContext*, const runtime::v1::ReopenContainerLogRequest*, runtime::v1::ReopenContainerLogResponse*) override;
  grpc::Status UpdateContainerResources(grpc::ServerContext*, const runtime::v1::UpdateContainerResourcesRequest*, runtime::v1::UpdateContainerResourcesResponse*) override;
  grpc::Status ExecSync(grpc::ServerContext*, const runtime::v1::ExecSyncRequest*, runtime::v1::ExecSyncResponse*) override;
  // streaming.cpp
  grpc::Status Exec(grpc::ServerContext*, const runtime::v1::ExecRequest*, runtime::v1::ExecResponse*) override;
  grpc::Status Attach(grpc::ServerContext*, const runtime::v1::AttachRequest*, runtime::v1::AttachResponse*) override;
  grpc::Status PortForward(grpc::ServerContext*, const runtime::v1::PortForwardRequest*, runtime::v1::PortForwardResponse*) override;
  // stats.cpp
  grpc::Status ContainerStats(grpc::ServerContext*, const runtime::v1::ContainerStatsRequest*, runtime::v1::ContainerStatsResponse*) override;
  grpc::Status ListContainerStats(grpc::ServerContext*, const runtime::v1::ListContainerStatsRequest*, runtime::v1::ListContainerStatsResponse*) override;
  grpc::Status PodSandboxStats(grpc::ServerContext*, const runtime::v1::PodSandboxStatsRequest*, runtime::v1::PodSandboxStatsResponse*) override;

 private:
  void fill_container_status(const pod::Runtime& rt, const std::string& id, runtime::v1::ContainerStatus* st);
  const Env& env_;
  StreamServer* streams_;
};

}  // namespace pod::cri
