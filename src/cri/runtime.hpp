// The CRI RuntimeService: runtime information here (runtime.cpp); sandboxes
// and containers over pod's apps-in-a-running-pod API follow in their own files.
#pragma once
#include "api.grpc.pb.h"
#include "cri/env.hpp"

namespace pod::cri {

class RuntimeService final : public runtime::v1::RuntimeService::Service {
 public:
  explicit RuntimeService(const Env& env) : env_(env) {}
  grpc::Status Version(grpc::ServerContext*, const runtime::v1::VersionRequest*,
                       runtime::v1::VersionResponse*) override;
  grpc::Status Status(grpc::ServerContext*, const runtime::v1::StatusRequest*,
                      runtime::v1::StatusResponse*) override;
  grpc::Status UpdateRuntimeConfig(grpc::ServerContext*, const runtime::v1::UpdateRuntimeConfigRequest*,
                                   runtime::v1::UpdateRuntimeConfigResponse*) override;

 private:
  const Env& env_;
};

}  // namespace pod::cri
