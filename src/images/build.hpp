// `pod image build`: make an ACI from a directory holding `manifest` and
// `rootfs/`. The output is deterministic: entries in sorted order, numeric
// owners only (no user/group names), whole-second mtimes (or one fixed
// mtime), uncompressed POSIX tar.
#pragma once
#include <cstdint>
#include <optional>
#include <string>

namespace pod::images {

struct BuildOptions {
  std::optional<int64_t> mtime;   // fixed mtime (seconds since the epoch) for every entry
  bool overwrite = false;
};

// Validates DIR/manifest, writes OUT atomically; returns the image ID of OUT.
std::string build_aci(const std::string& dir, const std::string& out, const BuildOptions& o);

// The same from parts elsewhere (pod export): the manifest text (validated),
// and rootfs_parentfd/rootfs_name as rootfs/ (its metadata kept, as build_aci's).
std::string write_aci(const std::string& manifest, int rootfs_parentfd, const std::string& rootfs_name,
                      const std::string& out, const BuildOptions& o);

}  // namespace pod::images
