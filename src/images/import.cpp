#include "images/import.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <unistd.h>

#include <cerrno>
#include <exception>
#include <vector>

#include "images/blob.hpp"
#include "util/digest.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"

namespace pod::images {

namespace {

// The input side: reads in_fd, copies each block to the blob and the gzip
// check, hands it to the raw (decompressing) reader.
struct Tee {
  int in_fd = -1;
  int blob_fd = -1;
  GzipCheck gzip;
  std::vector<char> buf = std::vector<char>(1 << 20);
  uint64_t read = 0;
  std::exception_ptr error;  // what failed inside the callback, rethrown by the caller
  const std::function<void(uint64_t)>* progress = nullptr;
  uint64_t next_progress = 0;

  // One block; 0 at the end of the input.
  size_t next() {
    ssize_t n;
    do n = ::read(in_fd, buf.data(), buf.size());
    while (n < 0 && errno == EINTR);
    if (n < 0) throw_sys("cannot read the image file");
    if (blob_fd >= 0) write_all(blob_fd, buf.data(), static_cast<size_t>(n), "the image blob");
    gzip.feed(buf.data(), static_cast<size_t>(n));
    read += static_cast<uint64_t>(n);
    if (progress && *progress && read >= next_progress) {
      (*progress)(read);
      next_progress = read + (8 << 20);
    }
    return static_cast<size_t>(n);
  }
  void rethrow() const {
    if (error) std::rethrow_exception(error);
  }
};

la_ssize_t tee_cb(struct archive* a, void* data, const void** out) {
  auto* t = static_cast<Tee*>(data);
  try {
    size_t n = t->next();
    *out = t->buf.data();
    return static_cast<la_ssize_t>(n);
  } catch (const Error& e) {
    t->error = std::current_exception();
    archive_set_error(a, e.errnum() ? e.errnum() : EIO, "%s", e.what());
    return -1;
  }
}

// The decompressed side: hashes, counts and limits what the tar reader gets.
struct Feed {
  explicit Feed(HashAlg alg) : hash(alg) {}
  struct archive* raw = nullptr;
  Tee* tee = nullptr;
  Hasher hash;
  uint64_t total = 0;
  uint64_t max_bytes = 0, max_bytes_used = 0;
  bool eof = false;
  std::exception_ptr error;  // what failed inside read_cb
};

la_ssize_t pull(Feed& f, const void** buf) {
  if (f.eof) return 0;
  size_t size = 0;
  la_int64_t off = 0;
  int r = archive_read_data_block(f.raw, buf, &size, &off);
  if (r == ARCHIVE_EOF) {
    f.eof = true;
    return 0;
  }
  if (r < ARCHIVE_WARN) {
    f.tee->rethrow();
    throw_archive(f.raw, "cannot decompress the image (corrupt or truncated)");
  }
  f.hash.update(*buf, size);
  f.total += size;
  if (f.max_bytes && f.max_bytes_used + f.total > f.max_bytes) throw size_limit_error(f.max_bytes);
  return static_cast<la_ssize_t>(size);
}

la_ssize_t read_cb(struct archive* a, void* data, const void** buf) {
  auto* f = static_cast<Feed*>(data);
  try {
    return pull(*f, buf);
  } catch (const Error& e) {
    f->error = std::current_exception();
    archive_set_error(a, e.errnum() ? e.errnum() : EIO, "%s", e.what());
    return -1;
  }
}

}  // namespace

ImportResult import_aci(int in_fd, int blob_fd, int tree_fd, const ExtractOptions& o,
                        const std::function<void(uint64_t)>& progress, HashAlg alg) {
  Tee tee;
  tee.in_fd = in_fd;
  tee.blob_fd = blob_fd;
  tee.progress = &progress;

  ArchivePtr raw(archive_read_new());
  if (!raw) throw Error("out of memory creating an archive reader");
  support_compressions(raw.get());
  archive_read_support_format_raw(raw.get());
  if (archive_read_open(raw.get(), &tee, nullptr, tee_cb, nullptr) != ARCHIVE_OK) {
    tee.rethrow();
    throw_archive(raw.get(), "unknown image type or unreadable file");
  }
  struct archive_entry* e;
  int r = archive_read_next_header(raw.get(), &e);
  if (r == ARCHIVE_EOF) throw Error("unknown image type: the file is empty");
  if (r < ARCHIVE_WARN) {
    tee.rethrow();
    throw_archive(raw.get(), "unknown image type");
  }

  Feed feed(alg);
  feed.raw = raw.get();
  feed.tee = &tee;
  feed.max_bytes = o.max_bytes;
  feed.max_bytes_used = o.max_bytes_used;

  ArchivePtr tar(archive_read_new());
  if (!tar) throw Error("out of memory creating an archive reader");
  archive_read_support_format_tar(tar.get());
  if (archive_read_open(tar.get(), &feed, nullptr, read_cb, nullptr) != ARCHIVE_OK)
    throw_archive(tar.get(), "unknown image type (not a tar archive, or compressed with an unsupported method)");

  ImportResult res;
  try {
    res.extract = extract_aci(tar.get(), tree_fd, o);
  } catch (const Error&) {
    // The root cause (a limit, ENOSPC on the blob, an unreadable file), not libarchive's echo of it.
    if (feed.error) std::rethrow_exception(feed.error);
    tee.rethrow();
    throw;
  }
  // The ID covers the whole decompressed stream, including what the tar
  // reader did not need (end-of-archive padding); draining the decompressor
  // to its end of stream, then the input to its end, lets every trailer be
  // checked and the blob hold the whole file.
  const void* buf;
  while (pull(feed, &buf) > 0) {
  }
  while (tee.next() > 0) {
  }
  tee.gzip.finish();
  res.id = (alg == HashAlg::Sha512 ? "sha512-" : "sha256:") + feed.hash.hex_digest();
  res.size = feed.total;
  res.stored = tee.read;
  return res;
}

}  // namespace pod::images
