// Where an OCI/docker image comes from: an OCI image layout (oci:DIR[:TAG]),
// an archive of one (oci-archive:FILE[:TAG]), what `docker save` / `podman
// save` write (docker-archive:FILE[:NAME:TAG]), or a registry (docker://).
// Every source hands out blobs verified against their digests; the store
// (ocistore.cpp) does the rest the same way for all of them.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "images/oci.hpp"
#include "util/fd.hpp"

namespace pod::images {

class OciSource {
 public:
  virtual ~OciSource() = default;
  virtual std::string describe() const = 0;  // "oci:/dir:tag", for messages
  virtual oci::Naming naming() const = 0;
  // The image manifest (an index already resolved to the platform) and its digest.
  virtual std::string manifest(std::string& digest) = 0;
  // A small blob (the config), verified.
  virtual std::string blob_small(const std::string& digest, size_t max) = 0;
  // A layer blob, streamed into fd and verified against digest (and size when known).
  virtual void blob_to_fd(const std::string& digest, int fd, uint64_t size,
                          const std::function<void(uint64_t)>& progress) = 0;
};

// A layout directory given by the user. `ref` is the TAG (the
// org.opencontainers.image.ref.name annotation), or "" when the layout holds one image.
std::unique_ptr<OciSource> oci_layout_source(const std::string& dir, const std::string& ref,
                                             const oci::Platform& platform);
// An archive of a layout / a `docker save` tar: unpacked into staging_fd
// (a directory the caller owns and removes) and read from there.
std::unique_ptr<OciSource> oci_archive_source(const std::string& file, const std::string& ref,
                                              const oci::Platform& platform, int staging_fd);
std::unique_ptr<OciSource> docker_archive_source(const std::string& file, const std::string& ref, int staging_fd);

// Copy in_fd to out_fd, hashing with SHA-256; throws unless the content is `digest` (and `size` when > 0).
void copy_verified(int in_fd, int out_fd, const std::string& digest, uint64_t size, const std::string& what,
                   const std::function<void(uint64_t)>& progress);

}  // namespace pod::images
