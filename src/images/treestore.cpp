// Rendering: dependency resolution, applying layers, and the tree cache.
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <set>

#include "appc/image_manifest.hpp"
#include "images/blob.hpp"
#include "images/extract.hpp"
#include "images/index.hpp"
#include "images/internal.hpp"
#include "images/store.hpp"
#include "util/crashpoint.hpp"
#include "util/digest.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"

namespace pod::images {

using nlohmann::json;

namespace {
constexpr size_t kMaxDepth = 64;

std::string labels_text(const std::map<std::string, std::string>& l) {
  std::string s;
  for (const auto& [k, v] : l) s += (s.empty() ? "" : ",") + k + "=" + v;
  return s.empty() ? "" : " (" + s + ")";
}

void hash_entries(int dirfd, const std::string& prefix, Sha512& h, bool dir_mtimes) {
  auto names = list_dir(dirfd);
  std::sort(names.begin(), names.end());
  for (const auto& n : names) {
    struct stat st;
    if (::fstatat(dirfd, n.c_str(), &st, AT_SYMLINK_NOFOLLOW) < 0) throw_sys("cannot stat " + prefix + n);
    const std::string path = prefix + n;
    const bool mtime = dir_mtimes || !S_ISDIR(st.st_mode);
    std::string rec = path + '\0' + std::to_string(st.st_mode) + '\0' + std::to_string(st.st_uid) + ':' +
                      std::to_string(st.st_gid) + '\0' +
                      (mtime ? std::to_string(st.st_mtim.tv_sec) + '.' + std::to_string(st.st_mtim.tv_nsec) : "-") +
                      '\0';
    if (S_ISREG(st.st_mode)) {
      rec += std::to_string(st.st_size) + '\0';
      h.update(rec);
      int fd = ::openat(dirfd, n.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
      if (fd < 0) throw_sys("cannot open " + path);
      UniqueFd f(fd);
      h.update(sha512_fd_hex(fd, path));
    } else if (S_ISLNK(st.st_mode)) {
      char buf[4096];
      ssize_t len = ::readlinkat(dirfd, n.c_str(), buf, sizeof buf);
      if (len < 0) throw_sys("cannot read link " + path);
      h.update(rec + std::string(buf, static_cast<size_t>(len)));
    } else if (S_ISDIR(st.st_mode)) {
      h.update(rec);
      UniqueFd d = open_dir_at(dirfd, n);
      hash_entries(d.get(), path + "/", h, dir_mtimes);
    } else {
      h.update(rec + std::to_string(major(st.st_rdev)) + ',' + std::to_string(minor(st.st_rdev)));
    }
    h.update("\n", 1);
  }
}
}  // namespace

std::string hash_tree(int tree_fd, bool dir_mtimes) {
  Sha512 h;
  h.update(read_file_at(tree_fd, "manifest", appc::kMaxManifestSize));
  UniqueFd rootfs = open_dir_at(tree_fd, "rootfs");
  hash_entries(rootfs.get(), "rootfs/", h, dir_mtimes);
  return "sha512-" + h.hex_digest();
}

std::string tree_id_of(const std::vector<std::string>& layer_ids) {
  std::string joined;
  for (const auto& id : layer_ids) joined += (joined.empty() ? "" : ",") + id;
  return "deps-" + sha512_hex(joined).substr(0, 64);
}

void finish_tree(int tree_fd, const std::vector<std::string>& layer_ids, bool content_hash) {
  std::string layers;
  for (const auto& id : layer_ids) layers += id + "\n";
  write_file_at(tree_fd, kTreeLayers, layers);
  write_file_at(tree_fd, kTreeHash, (content_hash ? hash_tree(tree_fd) : kLayerTreeHash) + std::string("\n"));
  if (::syncfs(tree_fd) < 0) throw_sys("cannot sync the rendered tree");
  write_file_at(tree_fd, kTreeRendered, "");
  fsync_fd(tree_fd, "rendered tree");
}

std::string ImageStore::resolve_dependency(const std::string& parent, const appc::Dependency& d) const {
  const std::string what = "dependency " + d.image_name + labels_text(d.labels) + " of image " + short_id(parent);
  std::optional<ImageRecord> rec;
  if (!d.image_id.empty()) {
    try {
      rec = read_record(index_.get(), resolve(d.image_id));
    } catch (const Error& e) {
      if (e.kind() != ErrorKind::NotFound) throw;
      throw Error(what + " (imageID " + short_id(d.image_id) + ") is not in the store; fetch it first with `pod fetch`",
                  ENOENT, ErrorKind::NotFound);
    }
    if (rec->name != d.image_name)
      throw Error(what + ": the image with ID " + short_id(rec->id) + " is named " + rec->name);
  } else {
    for (const auto& id : list_record_ids(index_.get())) {
      auto r = read_record(index_.get(), id);
      if (!r || r->name != d.image_name || !exists_at(blobs_.get(), id)) continue;
      bool match = std::all_of(d.labels.begin(), d.labels.end(), [&](const auto& kv) {
        auto it = r->labels.find(kv.first);
        return it != r->labels.end() && it->second == kv.second;
      });
      if (match && (!rec || r->import_time > rec->import_time)) rec = std::move(r);
    }
    if (!rec) throw Error(what + " is not in the store; fetch it first with `pod fetch`", ENOENT, ErrorKind::NotFound);
  }
  if (d.size && *d.size != rec->size)
    throw Error(what + ": size is " + std::to_string(rec->size) + " bytes, the manifest says " + std::to_string(*d.size));
  return rec->id;
}

void ImageStore::flatten(const std::string& id, std::vector<std::string>& chain, std::vector<Layer>& out,
                         std::vector<std::vector<std::string>> whitelists) const {
  if (chain.size() > kMaxDepth) throw Error("image dependencies are nested more than " + std::to_string(kMaxDepth) + " deep");
  json m = manifest(id);
  auto wl = appc::manifest_path_whitelist(m);
  if (!wl.empty()) whitelists.push_back(std::move(wl));
  for (const auto& d : appc::manifest_dependencies(m)) {
    std::string did = resolve_dependency(id, d);
    if (std::find(chain.begin(), chain.end(), did) != chain.end()) {
      std::string cyc;
      for (const auto& c : chain) cyc += appc::manifest_name(manifest(c)) + " -> ";
      throw Error("image dependency cycle: " + cyc + appc::manifest_name(manifest(did)) + "; fix the images' dependencies");
    }
    chain.push_back(did);
    flatten(did, chain, out, whitelists);
    chain.pop_back();
  }
  out.push_back(Layer{id, whitelists});
}

std::vector<Layer> ImageStore::layers_of(const std::string& id) const {
  std::vector<std::string> chain{id};
  std::vector<Layer> out;
  flatten(id, chain, out, {});
  return out;
}

std::vector<std::string> ImageStore::render_order(const std::string& id) const {
  std::vector<std::string> ids;
  for (const auto& l : layers_of(id)) ids.push_back(l.id);
  return ids;
}

std::string ImageStore::tree_id(const std::string& id) const { return tree_id_of(render_order(id)); }

void ImageStore::apply_layers(const std::vector<Layer>& layers, int dirfd, bool rootfs_only) const {
  for (const auto& layer : layers) {
    auto rec = read_record(index_.get(), layer.id);
    if (!rec) throw Error("image " + layer.id + " vanished from the store while rendering", ENOENT, ErrorKind::NotFound);
    if (rec->is_oci()) {
      apply_oci_layers(*rec, dirfd, rootfs_only);
      continue;
    }
    std::vector<std::set<std::string>> sets;
    for (const auto& w : layer.whitelists) sets.emplace_back(w.begin(), w.end());
    ExtractOptions eo;
    eo.overwrite = true;
    eo.rootfs_only = rootfs_only;
    eo.write_manifest = false;
    eo.allow_devices = rec->has_devices;
    if (!sets.empty())
      eo.keep = [&sets](const std::string& rel) {
        return std::all_of(sets.begin(), sets.end(), [&](const auto& s) { return s.count(rel) > 0; });
      };
    UniqueFd blob = open_beneath(blobs_.get(), layer.id, O_RDONLY);
    ArchivePtr a = open_blob_tar(blob.get());
    try {
      extract_aci(a.get(), dirfd, eo);
    } catch (const Error& e) {
      throw e.with_context("cannot apply image " + short_id(layer.id));
    }
  }
}

ImageStore::Tree ImageStore::render(const std::string& id_in) {
  const std::string id = resolve(id_in);
  auto layers = layers_of(id);
  std::vector<std::string> ids;
  for (const auto& l : layers) ids.push_back(l.id);
  const std::string tree = tree_id_of(ids);
  Tree out{tree, path_ + "/trees/" + tree};
  auto complete = [&] {
    UniqueFd t = try_open_dir_at(trees_.get(), tree);
    return t && exists_at(t.get(), kTreeRendered);
  };
  if (complete()) return out;
  FileLock tl = FileLock::acquire(locks_.get(), tree_lock_name(tree), LockMode::Exclusive);
  if (complete()) return out;
  if (exists_at(trees_.get(), tree)) remove_tree_dir(tree);  // not sealed: cannot happen, but never trust it
  Staging stage(tmp_.get(), locks_.get());
  UniqueFd tfd = mkdirs_at(stage.fd(), "tree", 0755);
  apply_layers(layers, tfd.get(), false);
  write_file_at(tfd.get(), "manifest", manifest(id).dump(2) + "\n");
  crashpoint("image-render-applied");
  finish_tree(tfd.get(), ids);
  if (::renameat(stage.fd(), "tree", trees_.get(), tree.c_str()) < 0) throw_sys("cannot store tree " + tree);
  fsync_fd(trees_.get(), "tree directory");
  return out;
}

namespace {
UniqueFd prepare_target(const std::string& dir, bool overwrite) {
  if (::mkdir(dir.c_str(), 0755) < 0 && errno != EEXIST) throw_sys("cannot create " + dir);
  UniqueFd fd = open_dir(dir);
  if (!list_dir(fd.get()).empty()) {
    if (!overwrite) throw Error(dir + " is not empty; use --overwrite to replace its contents");
    for (const auto& n : list_dir(fd.get())) remove_tree_at(fd.get(), n);
  }
  return fd;
}
}  // namespace

void ImageStore::render_to(const std::string& id, const std::string& dir, bool rootfs_only, bool overwrite) {
  auto layers = layers_of(id);
  UniqueFd fd = prepare_target(dir, overwrite);
  apply_layers(layers, fd.get(), rootfs_only);
  if (!rootfs_only) write_file_at(fd.get(), "manifest", manifest(id).dump(2) + "\n");
}

void ImageStore::extract(const std::string& id, const std::string& dir, bool rootfs_only, bool overwrite) {
  UniqueFd fd = prepare_target(dir, overwrite);
  auto rec = read_record(index_.get(), id);
  if (!rec) throw Error("no image " + id + " in the store", ENOENT, ErrorKind::NotFound);
  if (rec->is_oci()) {  // its layers, applied (an OCI image has no dependencies)
    apply_oci_layers(*rec, fd.get(), rootfs_only);
    if (!rootfs_only) write_file_at(fd.get(), "manifest", rec->manifest.dump(2) + "\n");
    return;
  }
  ExtractOptions eo;
  eo.rootfs_only = rootfs_only;
  eo.allow_devices = rec->has_devices;
  UniqueFd blob = open_beneath(blobs_.get(), id, O_RDONLY);
  ArchivePtr a = open_blob_tar(blob.get());
  extract_aci(a.get(), fd.get(), eo);
}

void ImageStore::remove_tree_dir(const std::string& tree) {
  Staging stage(tmp_.get(), locks_.get());
  // Renaming over the empty staging dir is atomic: the tree is either
  // complete in trees/ or gone (and its remains are removed with the stage).
  if (::renameat(trees_.get(), tree.c_str(), stage.fd(), "gone") < 0) {
    if (errno == ENOENT) return;
    throw_sys("cannot remove tree " + tree);
  }
  fsync_fd(trees_.get(), "tree directory");
}

}  // namespace pod::images
