// The image store: content-addressed ACI blobs, a crash-safe index and a
// cache of rendered trees. Layout under the data dir:
//
//   $DATA/images/
//     blobs/<id>                 the ACI as fetched (gzip/bzip2/xz/zstd or none; read-only once there),
//                                <id> = sha512-<128 hex> of the *uncompressed* tar (images/blob.hpp)
//     index/<id>.json            one record per image (name, labels, times, size, manifest) — the commit point
//     sources/<key>.json         source cache: file identity (dev, ino, size, mtime) -> id, for O(1) refetch
//     trees/<tree-id>/           rendered trees: rootfs/, manifest, layers, hash, rendered (marker, last)
//     locks/prepare              pods hold it shared while preparing; `image gc` exclusive
//     locks/img-<id>, tree-<id>, src-<key>   per-key flock files
//     tmp/<random>/              staging of fetches and renders, flocked by their owner; stale ones are
//                                removed at the next open or gc
//     quarantine/                what `image verify` found corrupt
//
// See Documentation/images.md for the crash-safety argument.
#pragma once
#include <sys/stat.h>

#include <chrono>
#include <map>
#include <optional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include <pod/spec.hpp>

#include "maintenance/fsck.hpp"
#include "util/fd.hpp"
#include "util/lock.hpp"
#include "util/time.hpp"

namespace pod::appc {
struct Dependency;
}

namespace pod::images {

struct Layer;  // internal.hpp

// The fetch's limits (0 = none) for an OCI layer unpacked now: its files count after bytes_below, what the
// image's earlier layers unpacked.
struct LayerLimits {
  uint64_t max_bytes = 0, bytes_below = 0, max_entries = 0;
};
struct ImageRecord;  // index.hpp
struct OciLayer;     // index.hpp
class OciSource;     // ocisource.hpp

struct ImageInfo {
  std::string id;
  std::string name;
  std::map<std::string, std::string> labels;
  Clock::time_point import_time{};
  Clock::time_point last_used{};
  uint64_t size = 0;
  std::string source;
  std::vector<std::string> refs;   // OCI: every NAME:TAG it was fetched as
  std::string manifest_digest;     // OCI: the image manifest it was fetched by
};

class ImageStore {
 public:
  static ImageStore open(const std::string& data_dir);   // creates its layout under data_dir
  ImageStore(ImageStore&&) noexcept = default;
  ImageStore& operator=(ImageStore&&) noexcept = default;

  using FetchOptions = pod::FetchOptions;
  // path, file://, https://, or name[:version] (discovery). Idempotent: already stored => O(1), returns id.
  std::string fetch(const std::string& what, const FetchOptions& o);
  // "sha512-…" (prefix ok) or name[:version] among stored images; throws Error(ErrorKind::NotFound) when absent.
  std::string resolve(const std::string& ref) const;
  nlohmann::json manifest(const std::string& id) const;          // validated image manifest
  struct Tree { std::string id; std::string path; };             // path = dir holding rootfs/ and manifest
  Tree render(const std::string& id);                            // cached rendered tree (deps + whitelist)
  // The image as overlayfs lower dirs, top first: an ACI's rendered tree, or an OCI image's layer trees
  // (made again from their blobs when gc removed them). O(1) once the layers are there.
  std::vector<Tree> render_stack(const std::string& id);
  FileLock prepare_lock(bool exclusive = false) const;           // pods hold it shared while preparing; image gc exclusive
  void touch(const std::string& id);                             // update last-used

  // --- more, for the CLI ---
  const std::string& path() const { return path_; }             // $DATA/images
  std::vector<ImageInfo> list() const;                           // sorted by import time
  ImageInfo info(const std::string& id) const;
  // Image IDs in render order (dependencies depth-first, the image last).
  std::vector<std::string> render_order(const std::string& id) const;
  std::string tree_id(const std::string& id) const;
  // Apply the image and its dependencies (+ pathWhitelist) into dir (created if missing; must be empty
  // unless overwrite).
  void render_to(const std::string& id, const std::string& dir, bool rootfs_only, bool overwrite);
  // The image alone, no dependencies.
  void extract(const std::string& id, const std::string& dir, bool rootfs_only, bool overwrite);
  // Write the stored ACI, decompressed (it hashes to id), to out.
  void export_image(const std::string& id, const std::string& out, bool overwrite) const;
  struct SpecialFile { std::string path; unsigned mode; };
  std::vector<SpecialFile> setuid_files(const std::string& id) const;

  struct RemoveResult { std::vector<std::string> trees_removed, trees_kept; };
  // Index record first (commit point), then blob, then its trees that no pod references.
  RemoveResult remove(const std::string& id);

  struct GcResult {
    std::vector<std::string> trees_removed, images_removed, temp_removed;
  };
  // Removes trees no pod references, then images not used within grace and not part of a kept tree.
  GcResult gc(std::chrono::milliseconds grace);

  struct VerifyResult {
    std::vector<std::string> ok;         // "image <id>" / "tree <id>"
    std::vector<std::string> bad;        // with the reason; moved to quarantine/
  };
  VerifyResult verify(const std::vector<std::string>& ids);

  // Removes stale staging dirs (owner gone) and blobs without an index record.
  std::vector<std::string> clean_stale();

  // --- fsck (images/fsck.cpp, Documentation/fsck.md) ---
  // Opens the store of data_dir as it is: creates nothing and cleans nothing (a read-only check).
  // nullopt when data_dir has no image store yet.
  static std::optional<ImageStore> open_existing(const std::string& data_dir);
  // Every check of the store, each finding passed to `found` (which runs its fix when repairing).
  // With `repair` it holds the prepare lock exclusively throughout (no prepare or fetch commits
  // meanwhile, so an unreferenced blob is not one being imported) and takes the item locks the fixes
  // need; without, it takes no lock and writes nothing in the store (layer trees are unpacked again
  // in a temp dir under $TMPDIR).
  void fsck(bool repair, const fsck::Sink& found);

 private:
  ImageStore() = default;
  // signer_out: the fingerprint that signed the image ("" when unchecked: insecure_image).
  std::string import_file(const std::string& path, const std::string& source, const FetchOptions& o,
                          std::string* signer_out = nullptr);
  // The signature check of an extracted image before its record is written (trust/verify.hpp):
  // its signer, or "" (and a warning) with insecure_image. `opened`: the file's stat when the import
  // began; a file changed since (size, mtime, ctime) is refused, so what was verified is what was imported.
  std::string check_signature(int image_fd, const struct stat& opened, const std::string& path,
                              const std::string& source, const nlohmann::json& manifest, const FetchOptions& o) const;
  // sig_url: where the detached signature is ("" = url + ".asc").
  std::string fetch_remote(const std::string& url, const FetchOptions& o, const std::string& expect_name,
                           const std::string& sig_url = "");
  std::string fetch_by_name(const std::string& name, const FetchOptions& o);
  std::string fetch_oci(const std::string& what, const FetchOptions& o);
  std::string fetch_registry(const std::string& what, const FetchOptions& o);  // docker:// (registrysource.cpp)
  std::string import_oci(OciSource& src, const FetchOptions& o, const std::string& source);
  // -> unpacked bytes; bytes_below: what the image's earlier layers unpacked (for o.max_uncompressed)
  uint64_t store_layer(OciSource& src, const OciLayer& l, const FetchOptions& o, uint64_t bytes_below);
  // lim: the fetch's limits (0 = none) for a layer unpacked now.
  std::pair<std::string, uint64_t> layer_tree(const OciLayer& l, bool allow_devices,
                                              const LayerLimits& lim = {});  // -> path, bytes
  // Unpack layer l from blob_fd into <parent_fd>/tree and seal it (not synced): the unpacked bytes.
  uint64_t unpack_layer(const OciLayer& l, int blob_fd, int parent_fd, bool allow_devices,
                        const LayerLimits& lim = {}) const;
  // Download layer l into <stage_fd>/blob and, when unpack, unpack it into <stage_fd>/tree at the same
  // time (layerstream.cpp): the unpacked bytes.
  uint64_t download_and_unpack(OciSource& src, const OciLayer& l, int stage_fd, bool unpack, const FetchOptions& o,
                               const LayerLimits& lim = {});
  // "" when it matches its blob, unpacked again into <scratch_fd>/tree.
  std::string verify_layer_tree(const std::string& tree, int scratch_fd);
  // What is wrong with a stored image's blob, a tree (scratch_fd as above): "" when nothing.
  std::string check_blob(const std::string& id) const;
  std::string check_tree(const std::string& tree, int scratch_fd);
  struct LayerProblem { std::string key, digest, got; };  // got "" = missing
  std::vector<LayerProblem> check_layer_blobs(const ImageRecord& r) const;
  std::string layer_blob_digest(const std::string& key) const;  // "sha256:<hex>" of layers/<key>; "" when missing
  // Move <from_fd>/name to quarantine/<name><suffix>.<time>; returns that name.
  std::string quarantine(int from_fd, const std::string& name, const std::string& suffix = "");
  std::string quarantine_image(const std::string& id);  // blob and record
  void apply_oci_layers(const ImageRecord& r, int dirfd, bool rootfs_only) const;
  std::vector<std::string> image_layer_trees(const std::string& id) const;
  std::vector<std::string> sweep_layers(const std::vector<std::string>& pod_refs);  // unreferenced layers
  std::vector<std::string> verify_layers(const ImageRecord& r);
  std::string resolve_dependency(const std::string& parent, const appc::Dependency& d) const;
  void flatten(const std::string& id, std::vector<std::string>& chain, std::vector<Layer>& out,
               std::vector<std::vector<std::string>> whitelists) const;
  std::vector<Layer> layers_of(const std::string& id) const;
  void apply_layers(const std::vector<Layer>& layers, int dirfd, bool rootfs_only) const;
  std::vector<std::string> referenced_trees() const;
  void remove_tree_dir(const std::string& tree);
  RemoveResult remove_impl(const std::string& id, const std::vector<std::string>& refs);

  std::string data_dir_, path_;
  UniqueFd root_, blobs_, index_, sources_, trees_, locks_, tmp_, quarantine_, layers_;
};

// docker://HOST/NAME:TAG (or @DIGEST) -> the NAME:TAG (NAME@DIGEST) a fetched image is known by in the store.
std::string registry_image_ref(const std::string& docker_url);
// A source-cache record (sources/<key>.json): the image ID, where it came from ("file" identity or
// "url") and, when its signature was checked, "signer".
nlohmann::json source_record(const std::string& id, const std::string& signer,
                             const std::pair<std::string, nlohmann::json>& origin);
// Whether a source record of a stored image answers a fetch with `o`: not when the image was stored
// unchecked and this fetch wants the signature checked.
bool source_record_serves(const nlohmann::json& record, const FetchOptions& o);

// The content hash of a rendered tree (dir holding rootfs/ and manifest): SHA-512 over every entry's
// path, type, mode, owner, size, mtime, link target and file content, in sorted order.
// dir_mtimes=false leaves directories' mtimes out (two unpackings of one layer differ only there).
std::string hash_tree(int tree_fd, bool dir_mtimes = true);

}  // namespace pod::images
