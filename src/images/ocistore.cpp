// OCI/docker images in the store. Layout, beside the ACI one (store.hpp):
//
//   blobs/sha256-<hex>         the image config; <hex> is its digest and the image ID
//   layers/sha256-<hex>        each layer blob as fetched (compressed), stored once for all images
//   trees/layer-<hex>/         the layer unpacked for overlayfs: rootfs/ with whiteouts as overlayfs
//                              whiteouts, `manifest` (the layer's digests and sizes); sealed like any tree
//   index/sha256-<hex>.json    the record, listing the layers bottom first: the commit point
//
// An import holds the prepare lock shared from its first layer to its
// record, so `image rm`/`image gc` (which hold it exclusively) never sweep the
// layers of an image that is not recorded yet. A layer is stored blob first,
// tree second, each by one rename: a crash leaves a blob without a tree (the
// tree is made again when needed) or an unreferenced blob (swept by gc).
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <set>
#include <sstream>

#include "appc/image_manifest.hpp"
#include "images/import.hpp"
#include "images/index.hpp"
#include "images/internal.hpp"
#include "images/ocisource.hpp"
#include "images/space.hpp"
#include "images/store.hpp"
#include "util/crashpoint.hpp"
#include "util/digest.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"
#include "util/progress.hpp"

namespace pod::images {

using nlohmann::json;

namespace {

std::string layer_tree_name(const std::string& digest) { return "layer-" + digest.substr(7); }
bool is_layer_tree(const std::string& tree) { return tree.rfind("layer-", 0) == 0; }

bool sealed(int trees_fd, const std::string& tree) {
  UniqueFd t = try_open_dir_at(trees_fd, tree);
  return t && exists_at(t.get(), kTreeRendered);
}

// The primary group of `user` in the first /etc/passwd found from the top layer down ("0" when none).
std::string primary_group(const std::vector<std::string>& rootfs_top_first, const std::string& user) {
  for (const auto& root : rootfs_top_first) {
    UniqueFd r = open_dir(root);
    UniqueFd fd;
    try {
      fd = open_beneath(r.get(), "etc/passwd", O_RDONLY);
    } catch (const Error&) {
      continue;
    }
    if (!S_ISREG(stat_fd(fd.get()).st_mode)) continue;
    std::istringstream in(read_fd(fd.get(), "the image's /etc/passwd", 4 << 20));
    std::string line;
    while (std::getline(in, line)) {
      std::vector<std::string> f;
      std::string part;
      std::istringstream ls(line);
      while (std::getline(ls, part, ':')) f.push_back(part);
      if (f.size() >= 4 && (f[0] == user || f[2] == user)) return f[3];
    }
    return "0";
  }
  return "0";
}

// A layer's tree records its digests and size in `manifest` (unpack_layer); null when unreadable.
json layer_meta(int tree_fd) {
  json meta = json::parse(read_file_at(tree_fd, "manifest", 1 << 16), nullptr, false);
  return meta.is_object() ? meta : json();
}

void check_diff_id(const OciLayer& l, const std::string& got) {
  if (got != l.diff_id)
    throw Error("layer " + l.digest + " unpacks to content " + got + ", but the image config says " + l.diff_id);
}

ExtractOptions layer_options(bool allow_devices, ExtractOptions::Whiteouts w) {
  ExtractOptions eo;
  eo.layer = true;
  eo.overwrite = true;
  eo.need_manifest = false;
  eo.write_manifest = false;
  eo.allow_devices = allow_devices;
  eo.whiteouts = w;
  return eo;
}

}  // namespace

std::string ImageStore::fetch_oci(const std::string& what, const FetchOptions& o) {
  // oci:DIR[:TAG], oci-archive:FILE[:TAG], docker-archive:FILE[:NAME[:TAG]]
  const auto colon = what.find(':');
  const std::string kind = what.substr(0, colon);
  std::string rest = what.substr(colon + 1), ref;
  if (rest.empty()) throw usage_error(what + ": give a path after " + kind + ":");
  struct stat st;
  if (::stat(rest.c_str(), &st) != 0) {
    // The reference follows the first ':' after which the path exists.
    for (size_t p = rest.find(':'); p != std::string::npos; p = rest.find(':', p + 1))
      if (::stat(rest.substr(0, p).c_str(), &st) == 0) {
        ref = rest.substr(p + 1);
        rest.resize(p);
        break;
      }
  }
  const oci::Platform platform = oci::parse_platform(o.platform);
  if (kind == "oci") {
    auto src = oci_layout_source(rest, ref, platform);
    return import_oci(*src, o, what);
  }
  // An archive seen unchanged is not unpacked again (as for ACI files).
  if (::stat(rest.c_str(), &st) != 0)
    throw Error(what + ": " + rest + " does not exist", ENOENT, ErrorKind::NotFound);
  if (!S_ISREG(st.st_mode)) throw Error(what + ": " + rest + " is not a regular file");
  const std::string key = source_key(kind, rest, ":" + ref);
  // Lock order as gc's: locks/prepare (which import_oci needs) before the source's lock.
  FileLock prep = prepare_lock(false);
  FileLock src_lock = FileLock::acquire(locks_.get(), "src-" + key, LockMode::Exclusive);
  const json ident = file_identity(st);
  if (auto id = cached_source(sources_.get(), index_.get(), blobs_.get(), key, ident)) return *id;
  std::string id;
  {
    Staging stage(tmp_.get(), locks_.get());
    auto src = kind == "oci-archive" ? oci_archive_source(rest, ref, platform, stage.fd())
                                     : docker_archive_source(rest, ref, stage.fd());
    id = import_oci(*src, o, what);
  }
  write_file_atomic_at(sources_.get(), key + ".json", json{{"id", id}, {"file", ident}}.dump() + "\n");
  return id;
}

std::string ImageStore::import_oci(OciSource& src, const FetchOptions& o, const std::string& source) {
  std::string mdigest;
  const std::string mtext = src.manifest(mdigest);
  const oci::Manifest man = oci::parse_manifest(mtext, src.describe() + " manifest " + mdigest);
  const std::string ctext = src.blob_small(man.config.digest, oci::kMaxDocument);
  const oci::Config cfg = oci::parse_config(ctext, src.describe() + " config " + man.config.digest);
  if (cfg.diff_ids.size() != man.layers.size())
    throw Error(src.describe() + ": the manifest lists " + std::to_string(man.layers.size()) +
                " layers, the config's rootfs.diff_ids " + std::to_string(cfg.diff_ids.size()));
  const std::string id = oci::digest_key(man.config.digest);
  const oci::Naming naming = src.naming();

  const std::string ref = naming.tag.empty() ? naming.name + "@" + mdigest : naming.name + ":" + naming.tag;
  auto remember_ref = [&]() -> bool {  // already stored: only note the new NAME:TAG
    auto existing = read_record(index_.get(), id);
    if (!existing || !exists_at(blobs_.get(), id)) return false;
    if (std::find(existing->refs.begin(), existing->refs.end(), ref) != existing->refs.end()) return true;
    existing->refs.push_back(ref);  // (pods touch last_used when they use it)
    write_record(index_.get(), *existing);
    return true;
  };
  if (exists_at(index_.get(), id + ".json")) {
    FileLock l = FileLock::acquire(locks_.get(), image_lock_name(id), LockMode::Exclusive);
    if (remember_ref()) return id;
  }

  FileLock prep = prepare_lock(false);  // our layers are unreferenced until the record exists
  std::vector<OciLayer> layers;
  std::vector<std::string> rootfs_top_first;
  uint64_t bytes = 0;
  for (size_t i = 0; i < man.layers.size(); ++i) {
    const auto& d = man.layers[i];
    layers.push_back({d.digest, cfg.diff_ids[i], d.media_type, d.size});
    bytes += store_layer(src, layers.back(), o, bytes);
    if (o.max_uncompressed && bytes > o.max_uncompressed)  // a layer already unpacked for another image
      throw size_limit_error(o.max_uncompressed).with_context(src.describe());
    rootfs_top_first.insert(rootfs_top_first.begin(), path_ + "/trees/" + layer_tree_name(d.digest) + "/rootfs");
  }
  const auto [user, group] = oci::split_user(cfg.user);
  const json am = oci::appc_manifest(cfg, naming, group.empty() ? primary_group(rootfs_top_first, user) : group);

  FileLock l = FileLock::acquire(locks_.get(), image_lock_name(id), LockMode::Exclusive);
  if (remember_ref()) return id;
  {
    Staging stage(tmp_.get(), locks_.get());
    write_file_at(stage.fd(), "config", ctext, 0444);
    if (::renameat(stage.fd(), "config", blobs_.get(), id.c_str()) < 0) throw_sys("cannot store config " + id);
    fsync_fd(blobs_.get(), "blob directory");
  }
  crashpoint("oci-import-config");
  ImageRecord r;
  r.id = id;
  r.name = naming.name;
  r.labels = appc::manifest_labels(am);
  r.import_time = r.last_used = Clock::now();
  r.size = bytes;
  r.has_devices = o.allow_devices;
  r.source = source;
  r.manifest = am;
  r.layers = std::move(layers);
  r.manifest_digest = mdigest;
  r.refs = {ref};
  write_record(index_.get(), r);  // commit point
  crashpoint("oci-import-record");
  return id;
}

uint64_t ImageStore::store_layer(OciSource& src, const OciLayer& l, const FetchOptions& o, uint64_t bytes_below) {
  const std::string key = oci::digest_key(l.digest), tree = layer_tree_name(l.digest);
  const LayerLimits lim{o.max_uncompressed, bytes_below, o.max_entries};
  if (exists_at(layers_.get(), key)) return layer_tree(l, o.allow_devices, lim).second;
  FileLock ll = FileLock::acquire(locks_.get(), "layer-" + key, LockMode::Exclusive);
  if (exists_at(layers_.get(), key)) return layer_tree(l, o.allow_devices, lim).second;
  try {  // the blob as given, plus its tree, at least as large
    check_free_space(tmp_.get(), 2 * l.size, path_);
  } catch (const Error& e) {
    throw e.with_context("cannot fetch layer " + l.digest);
  }
  Staging stage(tmp_.get(), locks_.get());
  FileLock tl = FileLock::acquire(locks_.get(), tree_lock_name(tree), LockMode::Exclusive);
  const bool fresh_tree = !sealed(trees_.get(), tree);
  if (fresh_tree && exists_at(trees_.get(), tree)) remove_tree_dir(tree);
  // The layer is unpacked while it downloads (layerstream.cpp); its tree's seal (one syncfs, after the
  // last byte) makes blob and tree durable before either is renamed in.
  uint64_t bytes = download_and_unpack(src, l, stage.fd(), fresh_tree, o, lim);
  crashpoint("oci-layer-downloaded");
  if (!fresh_tree && ::syncfs(stage.fd()) < 0) throw_sys("cannot sync the layer blob");
  if (::renameat(stage.fd(), "blob", layers_.get(), key.c_str()) < 0) throw_sys("cannot store layer " + l.digest);
  fsync_fd(layers_.get(), "layer directory");
  crashpoint("oci-layer-blob");
  if (!fresh_tree) return layer_tree(l, o.allow_devices, lim).second;
  if (::renameat(stage.fd(), "tree", trees_.get(), tree.c_str()) < 0) throw_sys("cannot store tree " + tree);
  fsync_fd(trees_.get(), "tree directory");
  return bytes;
}

uint64_t ImageStore::unpack_layer(const OciLayer& l, int blob_fd, int parent_fd, bool allow_devices,
                                  const LayerLimits& lim) const {
  UniqueFd tfd = mkdirs_at(parent_fd, "tree", 0755);
  ImportResult res;
  ExtractOptions eo = layer_options(allow_devices, ExtractOptions::Whiteouts::Overlay);
  eo.max_bytes = lim.max_bytes;
  eo.max_bytes_used = lim.bytes_below;
  if (lim.max_entries) eo.max_entries = lim.max_entries;
  try {
    res = import_aci(blob_fd, -1, tfd.get(), eo, nullptr, HashAlg::Sha256);
  } catch (const Error& e) {
    throw e.with_context("layer " + l.digest);
  }
  check_diff_id(l, res.id);
  json meta = {{"digest", l.digest}, {"diffID", l.diff_id}, {"mediaType", l.media_type}, {"bytes", res.extract.bytes},
               {"whiteouts", res.extract.whiteouts}};
  write_file_at(tfd.get(), "manifest", meta.dump(2) + "\n");
  finish_tree(tfd.get(), {oci::digest_key(l.digest)}, /*content_hash=*/false);
  return res.extract.bytes;
}

std::pair<std::string, uint64_t> ImageStore::layer_tree(const OciLayer& l, bool allow_devices,
                                                        const LayerLimits& lim) {
  const std::string tree = layer_tree_name(l.digest);
  auto size_of = [&] {
    const json meta = layer_meta(open_dir_at(trees_.get(), tree).get());
    return std::make_pair(path_ + "/trees/" + tree, meta.is_object() ? meta.value("bytes", uint64_t{0}) : 0);
  };
  if (sealed(trees_.get(), tree)) return size_of();
  FileLock tl = FileLock::acquire(locks_.get(), tree_lock_name(tree), LockMode::Exclusive);
  if (sealed(trees_.get(), tree)) return size_of();
  if (exists_at(trees_.get(), tree)) remove_tree_dir(tree);
  UniqueFd blob;
  try {
    blob = open_beneath(layers_.get(), oci::digest_key(l.digest), O_RDONLY);
  } catch (const Error& e) {
    throw Error("layer " + l.digest + " is missing from the store; fetch the image again", ENOENT, ErrorKind::NotFound);
  }
  Staging stage(tmp_.get(), locks_.get());
  const uint64_t bytes = unpack_layer(l, blob.get(), stage.fd(), allow_devices, lim);
  if (::renameat(stage.fd(), "tree", trees_.get(), tree.c_str()) < 0) throw_sys("cannot store tree " + tree);
  fsync_fd(trees_.get(), "tree directory");
  return {path_ + "/trees/" + tree, bytes};
}

std::string ImageStore::verify_layer_tree(const std::string& tree, int scratch_fd) {
  UniqueFd t = open_dir_at(trees_.get(), tree);
  const json meta = layer_meta(t.get());
  if (!meta.is_object() || !meta.contains("digest") || !meta.contains("diffID")) return "its manifest is unreadable";
  OciLayer l{meta.value("digest", ""), meta.value("diffID", ""), meta.value("mediaType", ""), 0};
  if (!oci::valid_digest(l.digest)) return "its manifest names no layer";
  UniqueFd blob;
  try {
    blob = open_beneath(layers_.get(), oci::digest_key(l.digest), O_RDONLY);
  } catch (const Error&) {
    return "its layer blob is missing";
  }
  try {
    unpack_layer(l, blob.get(), scratch_fd, /*allow_devices=*/true);
  } catch (const Error& e) {
    return std::string("its blob does not unpack: ") + e.what();
  }
  UniqueFd fresh = open_dir_at(scratch_fd, "tree");
  if (hash_tree(t.get(), false) != hash_tree(fresh.get(), false)) return "it differs from its blob unpacked again";
  return "";
}

std::vector<ImageStore::Tree> ImageStore::render_stack(const std::string& id_in) {
  const std::string id = resolve(id_in);
  auto rec = read_record(index_.get(), id);
  if (!rec) throw Error("no image " + id + " in the store", ENOENT, ErrorKind::NotFound);
  if (!rec->is_oci()) return {render(id)};
  std::vector<Tree> out;
  for (auto it = rec->layers.rbegin(); it != rec->layers.rend(); ++it)
    out.push_back({layer_tree_name(it->digest), layer_tree(*it, rec->has_devices).first});
  return out;
}

void ImageStore::apply_oci_layers(const ImageRecord& r, int dirfd, bool rootfs_only) const {
  ExtractOptions eo = layer_options(r.has_devices, ExtractOptions::Whiteouts::Apply);
  eo.rootfs_only = rootfs_only;
  for (const auto& l : r.layers) {
    UniqueFd blob = open_beneath(layers_.get(), oci::digest_key(l.digest), O_RDONLY);
    ImportResult res;
    try {
      res = import_aci(blob.get(), -1, dirfd, eo, nullptr, HashAlg::Sha256);
    } catch (const Error& e) {
      throw e.with_context("cannot apply layer " + l.digest + " of image " + short_id(r.id));
    }
    check_diff_id(l, res.id);
  }
}

std::vector<std::string> ImageStore::image_layer_trees(const std::string& id) const {
  std::vector<std::string> out;
  if (auto r = read_record(index_.get(), id))
    for (const auto& l : r->layers) out.push_back(layer_tree_name(l.digest));
  return out;
}

std::vector<std::string> ImageStore::sweep_layers(const std::vector<std::string>& pod_refs) {
  std::set<std::string> used_blobs, used_trees;
  for (const auto& id : list_record_ids(index_.get()))
    if (auto r = read_record(index_.get(), id))
      for (const auto& l : r->layers) {
        used_blobs.insert(oci::digest_key(l.digest));
        used_trees.insert(layer_tree_name(l.digest));
      }
  std::vector<std::string> removed;
  for (const auto& tree : list_dir(trees_.get())) {
    if (!is_layer_tree(tree) || used_trees.count(tree) || std::binary_search(pod_refs.begin(), pod_refs.end(), tree))
      continue;
    FileLock tl = FileLock::acquire(locks_.get(), tree_lock_name(tree), LockMode::Exclusive);
    remove_tree_dir(tree);
    tl.remove(locks_.get(), tree_lock_name(tree));
    removed.push_back(tree);
  }
  for (const auto& key : list_dir(layers_.get())) {
    if (used_blobs.count(key)) continue;
    FileLock ll = FileLock::acquire(locks_.get(), "layer-" + key, LockMode::Exclusive);
    if (::unlinkat(layers_.get(), key.c_str(), 0) < 0 && errno != ENOENT) throw_sys("cannot remove layer " + key);
    ll.remove(locks_.get(), "layer-" + key);
    removed.push_back("layers/" + key);
  }
  fsync_fd(layers_.get(), "layer directory");
  return removed;
}

std::vector<ImageStore::LayerProblem> ImageStore::check_layer_blobs(const ImageRecord& r) const {
  std::vector<LayerProblem> bad;
  for (const auto& l : r.layers) {
    const std::string key = oci::digest_key(l.digest);
    if (std::string got = layer_blob_digest(key); got != l.digest) bad.push_back({key, l.digest, got});
  }
  return bad;
}

std::string ImageStore::layer_blob_digest(const std::string& key) const {
  int fd = ::openat(layers_.get(), key.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return "";
  UniqueFd f(fd);
  return "sha256:" + sha256_fd_hex(fd, "layer " + key);
}

std::vector<std::string> ImageStore::verify_layers(const ImageRecord& r) {
  std::vector<std::string> bad;
  for (const auto& p : check_layer_blobs(r)) {
    if (p.got.empty())
      bad.push_back("layer " + p.digest + " is missing");
    else
      bad.push_back("layer " + p.digest + " hashes to " + p.got + "; moved to quarantine/" +
                    quarantine(layers_.get(), p.key, ".layer"));
  }
  return bad;
}

}  // namespace pod::images
