// Stored blobs are kept as fetched: gzip, bzip2, xz, zstd or uncompressed
// (Documentation/images.md, "Store layout"). The image ID is the SHA-512 of
// the *uncompressed* tar, so every reader decompresses on the fly, the
// compression detected by content (stores from before this change hold
// uncompressed blobs, which read the same way).
#pragma once
#include <zlib.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "images/extract.hpp"

namespace pod::images {

// Enables on `a` exactly the decompressions images.md documents. Not
// support_filter_all: that also enables lrzip, lzop and grzip, which
// libarchive decompresses by running those programs (found through $PATH).
void support_compressions(struct archive* a);

// A tar reader over a blob (any supported compression).
ArchivePtr open_blob_tar(int fd);

// Streams the decompressed bytes of the blob in fd to `sink`, block by block;
// returns how many there were. `what` names the blob in errors.
uint64_t read_decompressed(int fd, const std::function<void(const void*, size_t)>& sink, const std::string& what);

// libarchive (3.6) does not check a gzip stream's trailer (CRC-32 and length),
// so a corrupt .aci.gz whose entries all inflate would be accepted. GzipCheck
// inflates the same compressed bytes with zlib, which does. feed() takes the
// compressed stream in order (the first bytes tell whether it is gzip at
// all); finish() throws when it was gzip and a trailer did not match or the
// stream ended early. Members after the first (concatenated gzip) are checked
// too; bytes after the last member are ignored, as libarchive ignores them.
class GzipCheck {
 public:
  GzipCheck() = default;
  ~GzipCheck();
  GzipCheck(const GzipCheck&) = delete;
  GzipCheck& operator=(const GzipCheck&) = delete;
  void feed(const void* data, size_t n);
  void finish() const;

 private:
  enum class State { Undecided, NotGzip, InMember, BetweenMembers, Done, Failed };
  bool start_member();
  size_t inflate_some(const unsigned char* p, size_t n);  // returns the bytes consumed

  State state_ = State::Undecided;
  unsigned char magic_[2] = {0, 0};
  size_t magic_len_ = 0;
  bool z_init_ = false;
  z_stream z_{};
  std::string error_;
  std::vector<unsigned char> scratch_;
};

}  // namespace pod::images
