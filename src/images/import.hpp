// One-pass import of an ACI: the input's bytes are read once, copied as they
// are (still compressed) to the blob file and checked (gzip trailers, see
// GzipCheck); libarchive decompresses them (raw reader, compression detected
// by content: none/gzip/bzip2/xz/zstd); the decompressed bytes are hashed
// (SHA-512 -> image ID) and fed to a second, tar-only reader through a read
// callback, which extract_aci() validates and extracts. After the tar's end
// the decompressor is drained to the end of its stream and the input to its
// end, so the ID covers the whole tar and every trailer is checked.
#pragma once
#include <cstdint>
#include <functional>
#include <string>

#include "images/extract.hpp"
#include "util/digest.hpp"

namespace pod::images {

struct ImportResult {
  std::string id;        // sha512-<hex> of the uncompressed tar (an ACI's image ID), or sha256:<hex> (an OCI
                         // layer's diffID)
  uint64_t size = 0;     // uncompressed bytes
  uint64_t stored = 0;   // bytes as given (what the blob holds)
  ExtractResult extract;
};

// in_fd: the ACI (or layer) as given; blob_fd: receives the input's bytes
// unchanged (or -1); tree_fd: extraction target (ignored when o.write is
// false). o.max_bytes also limits the decompressed stream. progress(bytes of
// input read) is called now and then. alg: what the decompressed stream is
// hashed with (Sha256 for OCI layers, whose tar is not an ACI: o.layer).
ImportResult import_aci(int in_fd, int blob_fd, int tree_fd, const ExtractOptions& o,
                        const std::function<void(uint64_t)>& progress = nullptr, HashAlg alg = HashAlg::Sha512);

}  // namespace pod::images
