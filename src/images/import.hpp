// One-pass import of an ACI: libarchive decompresses the input (raw reader,
// compression detected by content: none/gzip/bzip2/xz/zstd), the decompressed
// bytes are hashed (SHA-512 -> image ID), copied to the blob file and fed to
// a second, tar-only reader through a read callback, which extract_aci()
// validates and extracts.
#pragma once
#include <cstdint>
#include <functional>
#include <string>

#include "images/extract.hpp"
#include "util/digest.hpp"

namespace pod::images {

struct ImportResult {
  std::string id;        // sha512-<hex> (an ACI's image ID), or sha256:<hex> (an OCI layer's diffID)
  uint64_t size = 0;     // uncompressed bytes
  ExtractResult extract;
};

// in_fd: the ACI as given; blob_fd: receives the uncompressed tar (or -1);
// tree_fd: extraction target (ignored when o.write is false).
// progress(bytes_read_compressed) is called now and then.
// alg: what the decompressed stream is hashed with (Sha256 for OCI layers, whose tar is not an ACI:
// o.layer).
ImportResult import_aci(int in_fd, int blob_fd, int tree_fd, const ExtractOptions& o,
                        const std::function<void(uint64_t)>& progress = nullptr, HashAlg alg = HashAlg::Sha512);

}  // namespace pod::images
