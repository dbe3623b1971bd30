// Pieces shared by the image store's implementation files.
#pragma once
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <sys/stat.h>
#include <vector>

#include "util/fd.hpp"

namespace pod::images {

// One image applied while rendering, with the pathWhitelists of itself and
// the images above it in its branch (a non-directory is kept only if every
// one of them lists it).
struct Layer {
  std::string id;
  std::vector<std::vector<std::string>> whitelists;
};

// A private scratch dir under images/tmp, flocked for its lifetime so that
// clean_stale() can tell it from one left by a killed process. Removed on
// destruction unless release()d. Between its mkdir and its flock a new dir
// looks exactly like a stale one, so it is made under a shared lock on
// locks/<kStagingLock> and clean_stale() scans under the exclusive one.
inline constexpr const char* kStagingLock = "staging";
class Staging {
 public:
  Staging(int tmp_fd, int locks_fd);
  ~Staging();
  Staging(const Staging&) = delete;
  Staging& operator=(const Staging&) = delete;
  int fd() const { return fd_.get(); }
  const std::string& name() const { return name_; }

 private:
  int tmp_fd_;
  std::string name_;
  UniqueFd fd_;
};

// A local file's identity for the source cache (sources/<key>.json): a file
// whose dev, inode, size, mtime and ctime are unchanged is not read again.
nlohmann::json file_identity(const struct stat& st);
// The image ID sources/<key>.json recorded for a file of this identity, if its image is still stored.
// The key of a local file's source record and lock: SHA-512 of "<kind>:<real path><suffix>", 32 hex digits.
std::string source_key(const std::string& kind, const std::string& path, const std::string& suffix = "");
// serves: whether the record answers this fetch (e.g. not an unchecked image for a checked fetch).
std::optional<std::string> cached_source(int sources_fd, int index_fd, int blobs_fd, const std::string& key,
                                         const nlohmann::json& ident,
                                         const std::function<bool(const nlohmann::json&)>& serves = nullptr);

// Lock files under images/locks.
inline std::string image_lock_name(const std::string& id) { return "img-" + id; }
inline std::string tree_lock_name(const std::string& tree) { return "tree-" + tree; }

// Tree files.
inline constexpr const char* kTreeRendered = "rendered";
inline constexpr const char* kTreeHash = "hash";
inline constexpr const char* kTreeLayers = "layers";

// "deps-" + 64 hex of SHA-512 over the comma-joined image IDs in render order.
std::string tree_id_of(const std::vector<std::string>& layer_ids);
// Seal a fully written tree dir: layers file, content hash, syncfs, then the
// `rendered` marker. The caller renames it into trees/ afterwards.
// A layer tree (trees/layer-*) is sealed without a content hash (hashing every file again would cost
// as much as unpacking it): `image verify` unpacks its verified blob again and compares the two.
inline constexpr const char* kLayerTreeHash = "layer: compared with its blob by image verify";
void finish_tree(int tree_fd, const std::vector<std::string>& layer_ids, bool content_hash = true);

}  // namespace pod::images
