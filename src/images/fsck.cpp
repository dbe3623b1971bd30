// `pod fsck` of the image store (Documentation/fsck.md): the same checks as
// `pod image verify` (check_blob, check_tree, check_layer_blobs in
// maintenance.cpp and ocistore.cpp) plus the index against what is on disk and
// stale temp and lock files. Each finding carries its fix; the caller runs it
// when repairing. Without repair nothing here writes or locks, so it works on a
// read-only data dir.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <map>
#include <set>

#include "images/index.hpp"
#include "images/internal.hpp"
#include "images/oci.hpp"
#include "images/store.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"
#include "util/lock.hpp"

namespace pod::images {

namespace {
constexpr const char* kSubdirs[] = {"blobs", "index", "sources", "trees", "locks", "tmp", "quarantine", "layers"};

void unlink_in(int dirfd, const std::string& name, const std::string& what) {
  if (::unlinkat(dirfd, name.c_str(), 0) < 0 && errno != ENOENT) throw_sys("cannot remove " + what);
}

// Runs `f` with the lock file `name` held exclusively, then, with remove_after, removes the lock file
// (the key it protects is gone for good). Fails (Conflict) when someone holds it: the item is in use.
void with_lock(int locks_fd, const std::string& name, const std::function<void()>& f, bool remove_after = false) {
  FileLock l = FileLock::try_acquire(locks_fd, name, LockMode::Exclusive);
  if (!l) throw Error("lock " + name + " is held: the item is in use; left alone", EBUSY, ErrorKind::Conflict);
  f();
  if (remove_after) l.remove(locks_fd, name);
}
}  // namespace

std::optional<ImageStore> ImageStore::open_existing(const std::string& data_dir) {
  ImageStore s;
  char* real = ::realpath(data_dir.c_str(), nullptr);
  if (!real) throw_sys("cannot resolve data directory " + data_dir);
  s.data_dir_ = real;
  std::free(real);
  s.path_ = s.data_dir_ + "/images";
  UniqueFd data = open_dir(s.data_dir_);
  s.root_ = try_open_dir_at(data.get(), "images");
  if (!s.root_) return std::nullopt;
  UniqueFd* fds[] = {&s.blobs_, &s.index_, &s.sources_, &s.trees_, &s.locks_, &s.tmp_, &s.quarantine_, &s.layers_};
  for (size_t i = 0; i < std::size(kSubdirs); ++i) *fds[i] = try_open_dir_at(s.root_.get(), kSubdirs[i]);
  return s;
}

namespace {
// A private temp dir under $TMPDIR (or /tmp), removed with its content on destruction.
class TempDir {
 public:
  TempDir() {
    const char* t = std::getenv("TMPDIR");
    std::string tmpl = std::string(t && *t ? t : "/tmp") + "/pod-fsck-XXXXXX";
    if (!::mkdtemp(tmpl.data())) throw_sys("cannot create a temp dir in " + tmpl.substr(0, tmpl.rfind('/')));
    path_ = tmpl;
    fd_ = open_dir(path_);
  }
  ~TempDir() {
    fd_.reset();
    try {
      UniqueFd parent = open_dir(path_.substr(0, path_.rfind('/')));
      remove_tree_at(parent.get(), path_.substr(path_.rfind('/') + 1));
    } catch (const Error&) {
      // left in $TMPDIR; nothing of the store
    }
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  int fd() const { return fd_.get(); }

 private:
  std::string path_;
  UniqueFd fd_;
};
}  // namespace

void ImageStore::fsck(bool repair, const fsck::Sink& found) {
  auto report = [&](const std::string& item, std::string problem, std::string action, std::function<void()> fix) {
    found({"images", "images/" + item, std::move(problem), std::move(action), std::move(fix)});
  };
  // The layout first: every check below needs its directory.
  UniqueFd* fds[] = {&blobs_, &index_, &sources_, &trees_, &locks_, &tmp_, &quarantine_, &layers_};
  for (size_t i = 0; i < std::size(kSubdirs); ++i)
    if (!*fds[i])
      report(kSubdirs[i], "the directory is missing", "create it (empty)", [this, i, fd = fds[i]] {
        if (::mkdirat(root_.get(), kSubdirs[i], 0700) < 0 && errno != EEXIST) throw_sys(std::string("cannot create ") + kSubdirs[i]);
        *fd = open_dir_at(root_.get(), kSubdirs[i]);
      });
  for (auto* fd : fds)
    if (!*fd) return;
  FileLock prep;
  if (repair) prep = prepare_lock(true);
  // Where layer trees are unpacked again: the store's own staging when repairing, else outside it.
  std::optional<Staging> staging;
  std::optional<TempDir> temp;
  if (repair) staging.emplace(tmp_.get(), locks_.get());
  else temp.emplace();
  const int scratch_fd = repair ? staging->fd() : temp->fd();

  // Staging dirs whose owner is gone (the same rule as clean_stale).
  for (const auto& n : list_dir(tmp_.get())) {
    if (staging && n == staging->name()) continue;
    UniqueFd d = try_open_dir_at(tmp_.get(), n);
    if (d && exclusive_lock_held(d.get())) continue;  // its owner is alive
    report("tmp/" + n, "stale staging entry (its fetch or render was killed)", "remove it", [this, n] {
      with_lock(locks_.get(), kStagingLock, [&] {
        UniqueFd again = try_open_dir_at(tmp_.get(), n);
        if (again && !try_lock_fd(again.get(), LockMode::Exclusive, "staging directory")) return;
        remove_tree_at(tmp_.get(), n);
      });
    });
  }

  // Index records: readable, with their blob and their layers.
  std::map<std::string, ImageRecord> records;
  for (const auto& n : list_dir(index_.get())) {
    const std::string id = n.size() > 5 && n.ends_with(".json") ? n.substr(0, n.size() - 5) : "";
    if (fsck::stale_temp_name(n)) {
      report("index/" + n, "stale temp file (its writer died)", "remove it", [this, n] { unlink_in(index_.get(), n, "index/" + n); });
    } else if (!is_full_image_id(id)) {
      report("index/" + n, "not an index record", "move it to quarantine/", [this, n] { quarantine(index_.get(), n); });
    } else {
      try {
        if (auto r = read_record(index_.get(), id)) records.emplace(id, std::move(*r));
      } catch (const Error& e) {
        report("index/" + n, e.what(), "move it to quarantine/ (the image is gone; fetch it again)",
               [this, n] { quarantine(index_.get(), n); });
      }
    }
  }
  // Each layer blob once (several images share them): "" = missing, else its digest.
  std::map<std::string, std::string> layer_digests;
  std::set<std::string> corrupt_layers;
  for (const auto& [id, r] : records)
    for (const auto& l : r.layers) {
      const std::string key = oci::digest_key(l.digest);
      if (layer_digests.count(key)) continue;
      const std::string got = layer_blob_digest(key);
      layer_digests[key] = got;
      if (!got.empty() && got != l.digest && corrupt_layers.insert(key).second)
        report("layers/" + key, "the layer blob hashes to " + got + ", not " + l.digest, "move it to quarantine/",
               [this, key] { with_lock(locks_.get(), "layer-" + key, [&] { quarantine(layers_.get(), key, ".layer"); }); });
    }
  std::set<std::string> used_layers;  // by the images that stay
  for (const auto& [id, r] : records) {
    std::string reason = check_blob(id);
    for (const auto& l : r.layers)
      if (layer_digests[oci::digest_key(l.digest)] != l.digest)
        reason += std::string(reason.empty() ? "" : "; ") + "its layer " + l.digest + " is missing or corrupt";
    if (reason.empty()) {
      for (const auto& l : r.layers) used_layers.insert(oci::digest_key(l.digest));
      continue;
    }
    report("index/" + id + ".json", "image " + short_id(id) + (r.name.empty() ? "" : " (" + r.name + ")") + ": " + reason,
           "move its record and blob to quarantine/ (fetch it again)", [this, id = id] {
             with_lock(locks_.get(), image_lock_name(id), [&] { quarantine_image(id); }, true);
           });
  }
  // Blobs without a record: an import that died before its commit point (clean_stale's rule).
  for (const auto& id : list_dir(blobs_.get())) {
    if (records.count(id) || exists_at(index_.get(), id + ".json")) continue;
    report("blobs/" + id, "blob without an index record (its import died before the commit point)", "remove it",
           [this, id] {
             with_lock(locks_.get(), image_lock_name(id), [&] {
               if (!exists_at(index_.get(), id + ".json")) unlink_in(blobs_.get(), id, "blob " + id);
             }, true);
           });
  }
  // Layer blobs no image that stays lists (only a repair holds off imports, which store layers before
  // their record); a corrupt one is reported above.
  for (const auto& key : list_dir(layers_.get())) {
    if (used_layers.count(key) || corrupt_layers.count(key)) continue;
    report("layers/" + key, "layer blob no image uses (its import died, or an image was removed)", "remove it",
           [this, key] { with_lock(locks_.get(), "layer-" + key, [&] { unlink_in(layers_.get(), key, "layer " + key); }, true); });
  }

  // Trees against their recorded hashes; layer trees are unpacked again from their blob.
  for (const auto& tree : list_dir(trees_.get())) {
    const std::string sub = "tree-" + std::to_string(::getpid());
    UniqueFd scratch = mkdirs_at(scratch_fd, sub, 0700);
    std::string reason = check_tree(tree, scratch.get());
    remove_tree_at(scratch_fd, sub);
    if (reason.empty()) continue;
    report("trees/" + tree, reason, "move it to quarantine/ (it is rendered again when needed)", [this, tree] {
      with_lock(locks_.get(), tree_lock_name(tree), [&] { quarantine(trees_.get(), tree); }, true);
    });
  }

  // Source records of images no longer stored (gc's rule), and torn temp files.
  for (const auto& n : list_dir(sources_.get())) {
    if (fsck::stale_temp_name(n)) {
      report("sources/" + n, "stale temp file (its writer died)", "remove it", [this, n] { unlink_in(sources_.get(), n, n); });
      continue;
    }
    std::string why;
    try {
      auto text = try_read_file_at(sources_.get(), n);
      if (text && !exists_at(index_.get(), nlohmann::json::parse(*text).at("id").get<std::string>() + ".json"))
        why = "source record of an image no longer stored";
    } catch (const nlohmann::json::exception& e) {
      why = std::string("unreadable source record (") + e.what() + ")";
    }
    if (why.empty()) continue;
    const std::string key = n.ends_with(".json") ? n.substr(0, n.size() - 5) : n;
    report("sources/" + n, why, "remove it (the next fetch of that source reads it again)", [this, n, key] {
      with_lock(locks_.get(), "src-" + key, [&] { unlink_in(sources_.get(), n, n); }, true);
    });
  }

  // Lock files whose key is gone for good (an rm or a failed fetch killed before removing them).
  for (const auto& n : list_dir(locks_.get())) {
    auto rest = [&](const char* prefix) { return n.rfind(prefix, 0) == 0 ? n.substr(std::string(prefix).size()) : ""; };
    bool stale = false;
    if (auto id = rest("img-"); !id.empty()) stale = !exists_at(index_.get(), id + ".json") && !exists_at(blobs_.get(), id);
    else if (auto t = rest("tree-"); !t.empty()) stale = !exists_at(trees_.get(), t);
    else if (auto k = rest("src-"); !k.empty()) stale = !exists_at(sources_.get(), k + ".json");
    else if (auto l = rest("layer-"); !l.empty()) stale = !exists_at(layers_.get(), l);
    if (!stale) continue;
    report("locks/" + n, "lock file of an item that no longer exists", "remove it (unless someone holds it)",
           [this, n] { with_lock(locks_.get(), n, [] {}, true); });
  }
}

}  // namespace pod::images
