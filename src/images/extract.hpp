// Extracting an ACI (a tar of `manifest` + `rootfs/`) from a libarchive
// reader into a directory, treating the archive as hostile:
//   - every write is relative to a directory fd; parents are opened with
//     open_beneath (no symlink is ever followed, no ".." accepted);
//   - absolute names, ".." components, entries outside manifest/rootfs,
//     duplicate entries, hardlinks to targets that are outside the image or
//     not extracted yet, and device nodes (unless allowed) are refused;
//   - modes (setuid included), numeric owners, xattrs and mtimes are kept;
//   - the manifest is size-limited and validated, an archive with a manifest
//     must have rootfs/ (appc), the entry count and the uncompressed size
//     are limited, and free space is checked while writing;
//   - overlayfs xattrs (trusted.overlay.*) in entries are refused: only pod
//     writes them, for the whiteouts of OCI layers (ExtractOptions::layer).
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <pod/error.hpp>
#include <string>

struct archive;

namespace pod::images {

// Built-in ceiling on entries when no limit is configured (hostile archives).
inline constexpr uint64_t kDefaultMaxEntries = 2'000'000;

struct ExtractOptions {
  bool allow_devices = false;   // char/block devices (--allow-devices)
  bool overwrite = false;       // render: later layers replace existing paths (never following symlinks)
  bool rootfs_only = false;     // write rootfs/ contents directly into the target dir
  bool write_manifest = true;   // write the `manifest` file into the target dir
  bool need_manifest = true;    // fail when the archive has no manifest
  // rootfs-relative path ("etc/passwd") of a non-directory entry -> keep it?
  std::function<bool(const std::string&)> keep;
  // Called with each entry's path, type char (f d l h c b p) and mode, before writing.
  std::function<void(const std::string&, char, unsigned)> observe;
  uint64_t max_entries = kDefaultMaxEntries;  // --max-image-entries, images.maxEntries
  // Sum of the regular files' sizes (import_aci: also the whole decompressed
  // tar); 0 = no limit. --max-image-size, images.maxUncompressedSize.
  uint64_t max_bytes = 0;
  uint64_t max_bytes_used = 0;  // of max_bytes, by the image's layers below this one (OCI)
  // An OCI/docker layer rather than an ACI: entries are rootfs-relative, there is no manifest, a later
  // entry for the same path replaces an earlier one, and whiteouts (.wh.NAME, .wh..wh..opq) are handled
  // as `whiteouts` says. Set overwrite too.
  bool layer = false;
  enum class Whiteouts {
    Overlay,  // kept for a stacked overlayfs lower dir: a 0/0 character device, trusted.overlay.opaque=y
    Apply,    // applied to what the lower layers wrote into the same dir (flattening into one tree)
  };
  Whiteouts whiteouts = Whiteouts::Overlay;
  bool write = true;            // false: only validate and observe (nothing is written)
};

struct ExtractResult {
  std::string manifest_text;
  nlohmann::json manifest;      // validated; null when the archive had none and need_manifest=false
  uint64_t entries = 0;
  uint64_t bytes = 0;
  uint64_t whiteouts = 0;
  bool has_devices = false;
};

// Reads every entry of the tar reader `a` and writes it beneath dirfd.
// Throws pod::Error naming the entry on anything suspicious or on I/O errors.
ExtractResult extract_aci(struct archive* a, int dirfd, const ExtractOptions& o);

// A libarchive reader, freed by the deleter (blob.hpp opens them over blobs).
struct ArchiveDeleter {
  void operator()(struct archive* a) const;
};
using ArchivePtr = std::unique_ptr<struct archive, ArchiveDeleter>;

// The errors of the two limits, naming the flag and configuration key that set them.
Error size_limit_error(uint64_t limit);
Error entries_limit_error(uint64_t limit);

// Throw an Error "<what>: <libarchive's message>".
[[noreturn]] void throw_archive(struct archive* a, const std::string& what);

}  // namespace pod::images
