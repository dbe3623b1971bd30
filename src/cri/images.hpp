// The CRI ImageService over pod's image store: CRI image references are
// registry references (docker.io/library/busybox:latest, HOST:PORT/NAME@sha256:…)
// or image IDs (sha256:<config digest>), pulled through pod's registry client.
#pragma once
#include <optional>
#include <pod/pod.hpp>
#include <string>

#include "api.grpc.pb.h"
#include "cri/env.hpp"

namespace pod::cri {

// pod's image ID as the CRI spells it: sha256-<hex> -> sha256:<hex> (an ACI's sha512-… stays).
std::string cri_image_id(const std::string& pod_id);
// The stored image a CRI reference names, if any. A malformed reference is a usage error.
std::optional<ImageSummary> find_image(const pod::Runtime& rt, const std::string& ref);
// Fill a CRI Image from a stored image.
void fill_image(const pod::Runtime& rt, const ImageSummary& s, runtime::v1::Image* out);

class ImageService final : public runtime::v1::ImageService::Service {
 public:
  explicit ImageService(const Env& env) : env_(env) {}
  grpc::Status ListImages(grpc::ServerContext*, const runtime::v1::ListImagesRequest*,
                          runtime::v1::ListImagesResponse*) override;
  grpc::Status ImageStatus(grpc::ServerContext*, const runtime::v1::ImageStatusRequest*,
                           runtime::v1::ImageStatusResponse*) override;
  grpc::Status PullImage(grpc::ServerContext*, const runtime::v1::PullImageRequest*,
                         runtime::v1::PullImageResponse*) override;
  grpc::Status RemoveImage(grpc::ServerContext*, const runtime::v1::RemoveImageRequest*,
                           runtime::v1::RemoveImageResponse*) override;
  grpc::Status ImageFsInfo(grpc::ServerContext*, const runtime::v1::ImageFsInfoRequest*,
                           runtime::v1::ImageFsInfoResponse*) override;

 private:
  const Env& env_;
};

}  // namespace pod::cri
