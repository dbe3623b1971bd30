#include "images/import.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <unistd.h>

#include <cerrno>

#include "util/digest.hpp"
#include "util/error.hpp"

namespace pod::images {

namespace {

struct Feed {
  struct archive* raw = nullptr;
  explicit Feed(HashAlg alg) : hash(alg) {}
  Hasher hash;
  int blob_fd = -1;
  uint64_t total = 0;
  const std::function<void(uint64_t)>* progress = nullptr;
  uint64_t next_progress = 0;
  bool eof = false;
};

void write_all(int fd, const char* p, size_t n) {
  while (n > 0) {
    ssize_t w = ::write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      if (errno == ENOSPC) throw Error("disk full while storing the image blob; free some space (pod image gc) and retry", ENOSPC);
      throw_sys("cannot write the image blob");
    }
    p += w;
    n -= static_cast<size_t>(w);
  }
}

// Pulls the next block of decompressed bytes: hashes and stores it.
la_ssize_t pull(Feed& f, const void** buf) {
  if (f.eof) return 0;
  size_t size = 0;
  la_int64_t off = 0;
  int r = archive_read_data_block(f.raw, buf, &size, &off);
  if (r == ARCHIVE_EOF) {
    f.eof = true;
    return 0;
  }
  if (r < ARCHIVE_WARN) throw_archive(f.raw, "cannot decompress the image (corrupt or truncated)");
  f.hash.update(*buf, size);
  if (f.blob_fd >= 0) write_all(f.blob_fd, static_cast<const char*>(*buf), size);
  f.total += size;
  if (f.progress && *f.progress && f.total >= f.next_progress) {
    (*f.progress)(f.total);
    f.next_progress = f.total + (8 << 20);
  }
  return static_cast<la_ssize_t>(size);
}

la_ssize_t read_cb(struct archive* a, void* data, const void** buf) {
  auto* f = static_cast<Feed*>(data);
  try {
    return pull(*f, buf);
  } catch (const Error& e) {
    archive_set_error(a, e.errnum() ? e.errnum() : EIO, "%s", e.what());
    return -1;
  }
}

}  // namespace

ImportResult import_aci(int in_fd, int blob_fd, int tree_fd, const ExtractOptions& o,
                        const std::function<void(uint64_t)>& progress, HashAlg alg) {
  ArchivePtr raw(archive_read_new());
  if (!raw) throw Error("out of memory creating an archive reader");
  // Only the compressions that images.md documents. Not support_filter_all:
  // it also enables lrzip, lzop and grzip, which libarchive decompresses by
  // running those programs (found through $PATH) on the image's bytes.
  archive_read_support_filter_gzip(raw.get());
  archive_read_support_filter_bzip2(raw.get());
  archive_read_support_filter_xz(raw.get());
  archive_read_support_filter_zstd(raw.get());
  archive_read_support_format_raw(raw.get());
  if (archive_read_open_fd(raw.get(), in_fd, 1 << 20) != ARCHIVE_OK) throw_archive(raw.get(), "unknown image type or unreadable file");
  struct archive_entry* e;
  int r = archive_read_next_header(raw.get(), &e);
  if (r == ARCHIVE_EOF) throw Error("unknown image type: the file is empty");
  if (r < ARCHIVE_WARN) throw_archive(raw.get(), "unknown image type");

  Feed feed(alg);
  feed.raw = raw.get();
  feed.blob_fd = blob_fd;
  feed.progress = &progress;

  ArchivePtr tar(archive_read_new());
  if (!tar) throw Error("out of memory creating an archive reader");
  archive_read_support_format_tar(tar.get());
  if (archive_read_open(tar.get(), &feed, nullptr, read_cb, nullptr) != ARCHIVE_OK)
    throw_archive(tar.get(), "unknown image type (not a tar archive, or compressed with an unsupported method)");

  ImportResult res;
  res.extract = extract_aci(tar.get(), tree_fd, o);
  // The ID covers the whole decompressed stream, including what the tar
  // reader did not need (end-of-archive padding).
  const void* buf;
  while (pull(feed, &buf) > 0) {
  }
  res.id = (alg == HashAlg::Sha512 ? "sha512-" : "sha256:") + feed.hash.hex_digest();
  res.size = feed.total;
  return res;
}

}  // namespace pod::images
