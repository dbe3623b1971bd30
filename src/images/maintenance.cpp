// rm, gc, verify, export and inspection of stored images.
#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <map>
#include <set>

#include "images/blob.hpp"
#include "images/extract.hpp"
#include "images/import.hpp"
#include "images/oci.hpp"
#include "images/index.hpp"
#include "images/internal.hpp"
#include "images/store.hpp"
#include "util/digest.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"

namespace pod::images {

namespace {
// Pod state dirs whose pods may still use their trees.
constexpr const char* kPodDirsUsingTrees[] = {"prepare", "prepared", "run", "exited-garbage"};

std::vector<std::string> tree_layers(int trees_fd, const std::string& tree) {
  std::vector<std::string> out;
  UniqueFd t = try_open_dir_at(trees_fd, tree);
  if (!t) return out;
  auto text = try_read_file_at(t.get(), kTreeLayers);
  if (!text) return out;
  size_t i = 0;
  while (i < text->size()) {
    size_t j = text->find('\n', i);
    if (j == std::string::npos) j = text->size();
    if (j > i) out.push_back(text->substr(i, j - i));
    i = j + 1;
  }
  return out;
}

std::string time_tag() { return std::to_string(Clock::now().time_since_epoch().count()); }
}  // namespace

std::vector<std::string> ImageStore::referenced_trees() const {
  std::set<std::string> refs;
  UniqueFd data = open_dir(data_dir_);
  UniqueFd pods = try_open_dir_at(data.get(), "pods");
  if (!pods) return {};
  for (const char* state : kPodDirsUsingTrees) {
    UniqueFd sd = try_open_dir_at(pods.get(), state);
    if (!sd) continue;
    for (const auto& uuid : list_dir(sd.get())) {
      UniqueFd p = try_open_dir_at(sd.get(), uuid);
      if (!p) continue;
      UniqueFd t = try_open_dir_at(p.get(), "trees");
      if (!t) continue;
      for (auto& n : list_dir(t.get())) refs.insert(n);
    }
  }
  return {refs.begin(), refs.end()};
}

ImageStore::RemoveResult ImageStore::remove(const std::string& id) {
  FileLock prep = prepare_lock(true);
  const auto refs = referenced_trees();
  RemoveResult res = remove_impl(id, refs);
  for (auto& t : sweep_layers(refs)) res.trees_removed.push_back(std::move(t));
  return res;
}

ImageStore::RemoveResult ImageStore::remove_impl(const std::string& id, const std::vector<std::string>& refs) {
  RemoveResult res;
  {
    FileLock l = FileLock::acquire(locks_.get(), image_lock_name(id), LockMode::Exclusive);
    if (!exists_at(index_.get(), id + ".json")) throw Error("no image " + id + " in the store", ENOENT, ErrorKind::NotFound);
    remove_record(index_.get(), id);  // commit point: from here on the image does not exist
    if (::unlinkat(blobs_.get(), id.c_str(), 0) < 0 && errno != ENOENT) throw_sys("cannot remove blob " + id);
    fsync_fd(blobs_.get(), "blob directory");
    l.remove(locks_.get(), image_lock_name(id));
  }
  // Its trees: those no pod references go now, the others stay for their pods until `image gc`.
  for (const auto& tree : list_dir(trees_.get())) {
    auto layers = tree_layers(trees_.get(), tree);
    if (std::find(layers.begin(), layers.end(), id) == layers.end()) continue;
    if (std::binary_search(refs.begin(), refs.end(), tree)) {
      res.trees_kept.push_back(tree);
      continue;
    }
    FileLock tl = FileLock::acquire(locks_.get(), tree_lock_name(tree), LockMode::Exclusive);
    remove_tree_dir(tree);
    tl.remove(locks_.get(), tree_lock_name(tree));  // the key is gone for good
    res.trees_removed.push_back(tree);
  }
  return res;
}

ImageStore::GcResult ImageStore::gc(std::chrono::milliseconds grace) {
  GcResult res;
  FileLock prep = prepare_lock(true);
  res.temp_removed = clean_stale();
  auto refs = referenced_trees();
  std::set<std::string> kept_images;
  // An OCI image is kept while a pod uses any of its layer trees.
  for (const auto& id : list_record_ids(index_.get()))
    for (const auto& t : image_layer_trees(id))
      if (std::binary_search(refs.begin(), refs.end(), t)) kept_images.insert(id);
  for (const auto& tree : list_dir(trees_.get())) {
    if (std::binary_search(refs.begin(), refs.end(), tree)) {
      for (auto& l : tree_layers(trees_.get(), tree)) kept_images.insert(l);
      continue;
    }
    FileLock tl = FileLock::acquire(locks_.get(), tree_lock_name(tree), LockMode::Exclusive);
    remove_tree_dir(tree);
    tl.remove(locks_.get(), tree_lock_name(tree));  // the key is gone for good
    res.trees_removed.push_back(tree);
  }
  const auto now = Clock::now();
  for (const auto& id : list_record_ids(index_.get())) {
    auto r = read_record(index_.get(), id);
    if (!r || kept_images.count(id) || now - r->last_used < grace) continue;
    remove_impl(id, refs);
    res.images_removed.push_back(id);
  }
  for (auto& t : sweep_layers(refs)) res.trees_removed.push_back(std::move(t));
  // Source records pointing at images that are gone.
  // Under the source's lock (a fetch of that source may be writing a fresh
  // record), which goes with it.
  for (const auto& n : list_dir(sources_.get())) {
    const std::string key = n.size() > 5 && n.ends_with(".json") ? n.substr(0, n.size() - 5) : "";
    FileLock sl;
    if (!key.empty()) sl = FileLock::acquire(locks_.get(), "src-" + key, LockMode::Exclusive);
    auto text = try_read_file_at(sources_.get(), n);
    try {
      if (text && exists_at(index_.get(), nlohmann::json::parse(*text).at("id").get<std::string>() + ".json")) continue;
    } catch (const nlohmann::json::exception&) {
    }
    ::unlinkat(sources_.get(), n.c_str(), 0);
    if (sl) sl.remove(locks_.get(), "src-" + key);
  }
  return res;
}

std::string ImageStore::check_blob(const std::string& id) const {
  int fd = ::openat(blobs_.get(), id.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return "its blob is missing";
  UniqueFd f(fd);
  const bool oci = id.rfind("sha256-", 0) == 0;  // the blob is its config, stored as is
  try {  // an ACI's ID is the hash of the uncompressed tar, whatever the blob's compression
    std::string got;
    if (oci) {
      got = "sha256-" + sha256_fd_hex(fd, "config " + id);
    } else {
      Sha512 h;
      read_decompressed(fd, [&](const void* p, size_t n) { h.update(p, n); }, "blob " + id);
      got = "sha512-" + h.hex_digest();
    }
    if (got != id) return "its blob hashes to " + short_id(got);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

std::string ImageStore::check_tree(const std::string& tree, int scratch_fd) {
  UniqueFd t = try_open_dir_at(trees_.get(), tree);
  if (!t) return "it is not a directory";
  try {
    auto want = try_read_file_at(t.get(), kTreeHash);
    if (!exists_at(t.get(), kTreeRendered) || !want) return "it is not sealed";
    if (*want == std::string(kLayerTreeHash) + "\n") return verify_layer_tree(tree, scratch_fd);
    if (std::string got = hash_tree(t.get()) + "\n"; got != *want) return "its content hash changed";
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

std::string ImageStore::quarantine(int from_fd, const std::string& name, const std::string& suffix) {
  const std::string q = name + suffix + "." + time_tag();
  if (::renameat(from_fd, name.c_str(), quarantine_.get(), q.c_str()) < 0 && errno != ENOENT)
    throw_sys("cannot quarantine " + name);
  fsync_fd(from_fd, "image store directory");
  return q;
}

std::string ImageStore::quarantine_image(const std::string& id) {
  const std::string q = quarantine(blobs_.get(), id);
  if (::renameat(index_.get(), (id + ".json").c_str(), quarantine_.get(), (q + ".json").c_str()) < 0 && errno != ENOENT)
    throw_sys("cannot quarantine the index record of " + id);
  fsync_fd(index_.get(), "image index");
  return q;
}

ImageStore::VerifyResult ImageStore::verify(const std::vector<std::string>& ids_in) {
  VerifyResult res;
  std::vector<std::string> ids = ids_in.empty() ? list_record_ids(index_.get()) : ids_in;
  std::set<std::string> checked;
  for (const auto& id : ids) {
    FileLock l = FileLock::acquire(locks_.get(), image_lock_name(id), LockMode::Exclusive);
    std::string reason = check_blob(id);
    if (auto r = read_record(index_.get(), id); reason.empty() && r)
      for (const auto& b : verify_layers(*r)) reason += (reason.empty() ? "" : "; ") + b;
    if (reason.empty()) {
      res.ok.push_back("image " + id);
    } else {
      res.bad.push_back("image " + id + ": " + reason + "; moved to quarantine/" + quarantine_image(id));
    }
    checked.insert(id);
  }
  std::set<std::string> checked_layer_trees;  // an OCI image's layer trees
  for (const auto& id : checked)
    for (auto& t : image_layer_trees(id)) checked_layer_trees.insert(std::move(t));
  for (const auto& tree : list_dir(trees_.get())) {
    auto layers = tree_layers(trees_.get(), tree);
    if (!ids_in.empty() && std::none_of(layers.begin(), layers.end(), [&](auto& l) { return checked.count(l); }) &&
        !checked_layer_trees.count(tree))
      continue;
    FileLock tl = FileLock::acquire(locks_.get(), tree_lock_name(tree), LockMode::Exclusive);
    if (!exists_at(trees_.get(), tree)) continue;
    Staging stage(tmp_.get(), locks_.get());
    if (std::string reason = check_tree(tree, stage.fd()); reason.empty())
      res.ok.push_back("tree " + tree);
    else
      res.bad.push_back("tree " + tree + ": " + reason + "; moved to quarantine/" + quarantine(trees_.get(), tree));
  }
  return res;
}

void ImageStore::export_image(const std::string& id, const std::string& out, bool overwrite) const {
  struct stat st;
  if (!overwrite && ::stat(out.c_str(), &st) == 0) throw Error(out + " exists; use --overwrite to replace it", EEXIST);
  if (id.rfind("sha256-", 0) == 0)
    throw usage_error("image " + short_id(id) + " is an OCI image; export writes ACIs (use `pod image render` for its tree)");
  UniqueFd blob = open_beneath(blobs_.get(), id, O_RDONLY);
  auto slash = out.rfind('/');
  std::string dir = slash == std::string::npos ? "." : (slash == 0 ? "/" : out.substr(0, slash));
  std::string leaf = slash == std::string::npos ? out : out.substr(slash + 1);
  UniqueFd dfd = open_dir(dir);
  const std::string tmp = "." + leaf + ".tmp-" + std::to_string(::getpid());
  int fd = ::openat(dfd.get(), tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
  if (fd < 0) throw_sys("cannot create " + out);
  UniqueFd f(fd);
  try {
    // The blob is stored as fetched; the export is the uncompressed ACI, which hashes to id.
    read_decompressed(blob.get(), [&](const void* p, size_t n) { write_all(fd, p, n, out); }, "blob " + id);
    fsync_fd(fd, out);
    if (::renameat(dfd.get(), tmp.c_str(), dfd.get(), leaf.c_str()) < 0) throw_sys("cannot rename into " + out);
  } catch (...) {
    ::unlinkat(dfd.get(), tmp.c_str(), 0);
    throw;
  }
}

std::vector<ImageStore::SpecialFile> ImageStore::setuid_files(const std::string& id) const {
  std::map<std::string, unsigned> found;  // a later layer's entry replaces an earlier one's
  ExtractOptions eo;
  eo.write = false;
  eo.allow_devices = true;
  eo.observe = [&](const std::string& rel, char type, unsigned mode) {
    if (type == 'f' && (mode & (S_ISUID | S_ISGID))) found["/" + rel] = mode;
    else found.erase("/" + rel);
  };
  auto rec = read_record(index_.get(), id);
  if (rec && rec->is_oci()) {
    eo.layer = true;
    eo.overwrite = true;
    eo.need_manifest = false;
    for (const auto& l : rec->layers) {
      UniqueFd blob = open_beneath(layers_.get(), oci::digest_key(l.digest), O_RDONLY);
      import_aci(blob.get(), -1, -1, eo, nullptr, HashAlg::Sha256);
    }
  } else {
    UniqueFd blob = open_beneath(blobs_.get(), id, O_RDONLY);
    ArchivePtr a = open_blob_tar(blob.get());
    extract_aci(a.get(), -1, eo);
  }
  std::vector<SpecialFile> out;
  for (const auto& [p, m] : found) out.push_back({p, m});
  std::sort(out.begin(), out.end(), [](const auto& x, const auto& y) { return x.path < y.path; });
  return out;
}

}  // namespace pod::images
