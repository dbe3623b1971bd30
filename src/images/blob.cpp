#include "images/blob.hpp"

#include <archive.h>
#include <archive_entry.h>

#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "util/error.hpp"
#include "util/fs.hpp"

namespace pod::images {

void support_compressions(struct archive* a) {
  archive_read_support_filter_gzip(a);
  archive_read_support_filter_bzip2(a);
  archive_read_support_filter_xz(a);
  archive_read_support_filter_zstd(a);
}

ArchivePtr open_blob_tar(int fd) {
  ArchivePtr a(archive_read_new());
  if (!a) throw Error("out of memory creating an archive reader");
  support_compressions(a.get());
  archive_read_support_format_tar(a.get());
  if (archive_read_open_fd(a.get(), fd, 1 << 20) != ARCHIVE_OK) throw_archive(a.get(), "cannot read image blob");
  return a;
}

uint64_t read_decompressed(int fd, const std::function<void(const void*, size_t)>& sink, const std::string& what) {
  ArchivePtr a(archive_read_new());
  if (!a) throw Error("out of memory creating an archive reader");
  support_compressions(a.get());
  archive_read_support_format_raw(a.get());
  if (archive_read_open_fd(a.get(), fd, 1 << 20) != ARCHIVE_OK) throw_archive(a.get(), "cannot read " + what);
  struct archive_entry* e;
  int r = archive_read_next_header(a.get(), &e);
  if (r == ARCHIVE_EOF) return 0;  // empty
  if (r < ARCHIVE_WARN) throw_archive(a.get(), "cannot read " + what);
  uint64_t total = 0;
  for (;;) {
    const void* buf;
    size_t size = 0;
    la_int64_t off = 0;
    r = archive_read_data_block(a.get(), &buf, &size, &off);
    if (r == ARCHIVE_EOF) return total;
    if (r < ARCHIVE_WARN) throw_archive(a.get(), "cannot decompress " + what + " (corrupt or truncated)");
    sink(buf, size);
    total += size;
  }
}

// ---- GzipCheck ----

GzipCheck::~GzipCheck() {
  if (z_init_) inflateEnd(&z_);
}

void GzipCheck::feed(const void* data, size_t n) {
  auto* p = static_cast<const unsigned char*>(data);
  while (n > 0) {
    if (state_ == State::Undecided || state_ == State::BetweenMembers) {
      // A (further) member starts only with the gzip magic; it may be split across calls.
      while (magic_len_ < 2 && n > 0) {
        magic_[magic_len_++] = *p++;
        --n;
      }
      if (magic_len_ < 2) return;
      magic_len_ = 0;
      if (magic_[0] != 0x1f || magic_[1] != 0x8b) {
        state_ = state_ == State::Undecided ? State::NotGzip : State::Done;
        return;
      }
      if (!start_member()) return;
      inflate_some(magic_, 2);
      continue;
    }
    if (state_ != State::InMember) return;
    const size_t used = inflate_some(p, n);
    p += used;
    n -= used;
  }
}

bool GzipCheck::start_member() {
  if (!z_init_) {
    // The gzip wrapper only: zlib then checks each member's CRC-32 and ISIZE.
    if (inflateInit2(&z_, 15 + 16) != Z_OK) {
      state_ = State::Failed;
      error_ = "cannot initialise zlib";
      return false;
    }
    z_init_ = true;
    scratch_.resize(256 << 10);
  } else if (inflateReset(&z_) != Z_OK) {
    state_ = State::Failed;
    error_ = "cannot reset zlib";
    return false;
  }
  state_ = State::InMember;
  return true;
}

size_t GzipCheck::inflate_some(const unsigned char* p, size_t n) {
  z_.next_in = const_cast<unsigned char*>(p);
  z_.avail_in = static_cast<uInt>(std::min<size_t>(n, 1u << 30));
  const size_t given = z_.avail_in;
  int r;
  for (;;) {  // until the input is used up and no output is pending
    z_.next_out = scratch_.data();
    z_.avail_out = static_cast<uInt>(scratch_.size());
    r = inflate(&z_, Z_NO_FLUSH);
    if (r == Z_BUF_ERROR) {  // no progress possible without more input
      r = Z_OK;
      break;
    }
    if (r != Z_OK || (z_.avail_in == 0 && z_.avail_out != 0)) break;
  }
  if (r == Z_STREAM_END) {
    state_ = State::BetweenMembers;
  } else if (r != Z_OK) {
    state_ = State::Failed;
    const std::string msg = z_.msg ? z_.msg : "zlib error " + std::to_string(r);
    if (msg == "incorrect data check")
      error_ = "its CRC-32 trailer does not match the data";
    else if (msg == "incorrect length check")
      error_ = "its length trailer does not match the data";
    else
      error_ = msg;
  }
  return given - z_.avail_in;
}

void GzipCheck::finish() const {
  if (state_ == State::Failed) throw Error("corrupt gzip stream: " + error_ + " (the file is damaged)", EBADMSG);
  if (state_ == State::InMember)
    throw Error("corrupt gzip stream: it ends before its trailer (the file is truncated)", EBADMSG);
}

}  // namespace pod::images
