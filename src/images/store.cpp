#include "images/store.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <random>

#include "appc/image_manifest.hpp"
#include "images/import.hpp"
#include "images/index.hpp"
#include "images/internal.hpp"
#include "images/space.hpp"
#include "util/crashpoint.hpp"
#include "util/digest.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"
#include "util/progress.hpp"

namespace pod::images {

using nlohmann::json;

// ---- Staging ----

Staging::Staging(int tmp_fd, int locks_fd) : tmp_fd_(tmp_fd) {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  constexpr const char* kReadOnly = "the image store is on a read-only file system; nothing can be written";
  FileLock creating;
  try {
    creating = FileLock::acquire(locks_fd, kStagingLock, LockMode::Shared);
  } catch (const Error& e) {
    if (e.errnum() == EROFS) throw Error(kReadOnly, EROFS);
    throw;
  }
  for (int i = 0; i < 100 && !fd_; ++i) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(rng()));
    name_ = buf;
    if (::mkdirat(tmp_fd, name_.c_str(), 0700) < 0) {
      if (errno == EEXIST) continue;
      if (errno == EROFS) throw Error(kReadOnly, EROFS);
      throw_sys("cannot create a staging directory in the image store");
    }
    fd_ = open_dir_at(tmp_fd, name_);
  }
  crashpoint("image-staging-before-lock");
  if (!fd_) throw Error("cannot create a staging directory in the image store");
  lock_fd(fd_.get(), LockMode::Exclusive, "staging directory");
}

Staging::~Staging() {
  try {
    if (!name_.empty()) remove_tree_at(tmp_fd_, name_);
  } catch (const Error&) {
    // Left for clean_stale(): it is unlocked once we exit.
  }
}

json file_identity(const struct stat& st) {
  return {{"dev", st.st_dev}, {"ino", st.st_ino}, {"size", st.st_size},
          {"mtime", st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec},
          {"ctime", st.st_ctim.tv_sec * 1000000000LL + st.st_ctim.tv_nsec}};
}

std::string source_key(const std::string& kind, const std::string& path, const std::string& suffix) {
  char* rp = ::realpath(path.c_str(), nullptr);
  const std::string real = rp ? rp : path;
  std::free(rp);
  return sha512_hex(kind + ":" + real + suffix).substr(0, 32);
}

std::optional<std::string> cached_source(int sources_fd, int index_fd, int blobs_fd, const std::string& key,
                                         const json& ident, const std::function<bool(const json&)>& serves) {
  auto cached = try_read_file_at(sources_fd, key + ".json");
  if (!cached) return std::nullopt;
  try {
    json c = json::parse(*cached);
    std::string id = c.at("id").get<std::string>();
    if (c.at("file") == ident && exists_at(index_fd, id + ".json") && exists_at(blobs_fd, id) && (!serves || serves(c)))
      return id;
  } catch (const json::exception&) {
    // rewritten by the fetch
  }
  return std::nullopt;
}

// ---- open ----

namespace {
UniqueFd ensure_dir(int parent, const char* name, mode_t mode) {
  if (::mkdirat(parent, name, mode) < 0 && errno != EEXIST) throw_sys(std::string("cannot create ") + name);
  return open_dir_at(parent, name);
}

bool starts_with(const std::string& s, const char* p) { return s.rfind(p, 0) == 0; }
}  // namespace

ImageStore ImageStore::open(const std::string& data_dir) {
  ImageStore s;
  ::mkdir(data_dir.c_str(), 0711);
  char* real = ::realpath(data_dir.c_str(), nullptr);
  if (!real) throw_sys("cannot resolve data directory " + data_dir);
  s.data_dir_ = real;
  std::free(real);
  s.path_ = s.data_dir_ + "/images";
  try {
    UniqueFd data = open_dir(s.data_dir_);
    s.root_ = ensure_dir(data.get(), "images", 0711);
    s.blobs_ = ensure_dir(s.root_.get(), "blobs", 0700);
    s.index_ = ensure_dir(s.root_.get(), "index", 0700);
    s.sources_ = ensure_dir(s.root_.get(), "sources", 0700);
    s.trees_ = ensure_dir(s.root_.get(), "trees", 0711);
    s.locks_ = ensure_dir(s.root_.get(), "locks", 0700);
    s.tmp_ = ensure_dir(s.root_.get(), "tmp", 0700);
    s.quarantine_ = ensure_dir(s.root_.get(), "quarantine", 0700);
    s.layers_ = ensure_dir(s.root_.get(), "layers", 0700);
  } catch (const Error& e) {
    throw e.with_context("image store " + s.path_ + " is not usable");
  }
  if (::faccessat(s.root_.get(), ".", W_OK, AT_EACCESS) == 0) {
    try {
      s.clean_stale();
    } catch (const Error&) {
      // A read-only or busy store still serves reads.
    }
  }
  return s;
}

std::vector<std::string> ImageStore::clean_stale() {
  std::vector<std::string> removed;
  // Opportunistic, as it runs at every open: while another process is making
  // a staging dir, leave tmp/ for the next time rather than wait.
  FileLock no_creators = FileLock::try_acquire(locks_.get(), kStagingLock, LockMode::Exclusive);
  for (const auto& n : no_creators ? list_dir(tmp_.get()) : std::vector<std::string>{}) {
    UniqueFd d = try_open_dir_at(tmp_.get(), n);
    if (d && !try_lock_fd(d.get(), LockMode::Exclusive, "staging directory")) continue;  // in use
    remove_tree_at(tmp_.get(), n);
    removed.push_back("tmp/" + n);
  }
  // Blobs renamed in by an import that died before writing its record.
  for (const auto& id : list_dir(blobs_.get())) {
    if (exists_at(index_.get(), id + ".json")) continue;
    FileLock l = FileLock::try_acquire(locks_.get(), image_lock_name(id), LockMode::Exclusive);
    if (!l || exists_at(index_.get(), id + ".json")) continue;
    ::unlinkat(blobs_.get(), id.c_str(), 0);
    removed.push_back("blobs/" + id);
  }
  return removed;
}

FileLock ImageStore::prepare_lock(bool exclusive) const {
  return FileLock::acquire(locks_.get(), "prepare", exclusive ? LockMode::Exclusive : LockMode::Shared);
}

// ---- lookup ----

std::string ImageStore::resolve(const std::string& ref) const {
  if (ref.empty()) throw usage_error("an image ID or name is required");
  const auto ids = list_record_ids(index_.get());
  if (starts_with(ref, "sha256:")) return resolve("sha256-" + ref.substr(7));
  if (starts_with(ref, "sha512-") || starts_with(ref, "sha256-")) {
    if (ref.size() < 7 + 8)
      throw usage_error("image ID \"" + ref + "\" is too short; give at least " + ref.substr(0, 7) + " and 8 hex digits");
    std::vector<std::string> hits;
    for (const auto& id : ids)
      if (id.rfind(ref, 0) == 0 && exists_at(blobs_.get(), id)) hits.push_back(id);
    if (hits.empty())
      throw Error("no image " + ref + " in the store; fetch it with `pod fetch`", ENOENT, ErrorKind::NotFound).with_item(ref);
    if (hits.size() > 1) {
      std::string all;
      for (const auto& h : hits) all += " " + short_id(h);
      throw usage_error("image ID prefix " + ref + " is ambiguous:" + all + "; give more digits");
    }
    return hits[0];
  }
  std::string name = ref, version;
  if (auto colon = ref.rfind(':'); colon != std::string::npos && ref.find('/', colon) == std::string::npos) {
    name = ref.substr(0, colon);  // not a registry port ("127.0.0.1:5000/app")
    version = ref.substr(colon + 1);
  }
  std::optional<ImageRecord> best;
  for (const auto& id : ids) {
    auto r = read_record(index_.get(), id);
    if (!r) continue;
    // An OCI image answers to every NAME:TAG it was fetched as.
    const bool by_ref = std::any_of(r->refs.begin(), r->refs.end(), [&](const std::string& x) {
      return x == ref || (version.empty() && x.rfind(name + ":", 0) == 0);
    });
    if (!by_ref && r->name != name) continue;
    if (!by_ref && !version.empty() && (r->labels.count("version") == 0 || r->labels.at("version") != version)) continue;
    if (!exists_at(blobs_.get(), id)) continue;
    if (!best || r->import_time > best->import_time) best = std::move(r);
  }
  if (!best)
    throw Error("no image named " + ref + " in the store; fetch it with `pod fetch`", ENOENT, ErrorKind::NotFound)
        .with_item(ref);
  return best->id;
}

ImageInfo ImageStore::info(const std::string& id) const {
  auto r = read_record(index_.get(), id);
  if (!r) throw Error("no image " + id + " in the store", ENOENT, ErrorKind::NotFound);
  return ImageInfo{r->id, r->name, r->labels, r->import_time, r->last_used, r->size, r->source, r->refs,
                   r->manifest_digest};
}

json ImageStore::manifest(const std::string& id) const {
  auto r = read_record(index_.get(), id);
  if (!r) throw Error("no image " + id + " in the store", ENOENT, ErrorKind::NotFound);
  return r->manifest;
}

std::vector<ImageInfo> ImageStore::list() const {
  std::vector<ImageInfo> out;
  for (const auto& id : list_record_ids(index_.get())) {
    if (!exists_at(blobs_.get(), id)) continue;
    out.push_back(info(id));
  }
  std::sort(out.begin(), out.end(), [](const ImageInfo& a, const ImageInfo& b) {
    return a.import_time != b.import_time ? a.import_time < b.import_time : a.id < b.id;
  });
  return out;
}

void ImageStore::touch(const std::string& id) {
  FileLock l = FileLock::acquire(locks_.get(), image_lock_name(id), LockMode::Exclusive);
  auto r = read_record(index_.get(), id);
  if (!r) throw Error("no image " + id + " in the store", ENOENT, ErrorKind::NotFound);
  r->last_used = Clock::now();
  write_record(index_.get(), *r);
}

// ---- fetch ----

std::string ImageStore::fetch(const std::string& what, const FetchOptions& o) {
  if (what.empty()) throw usage_error("pod fetch needs an image: a path, file://, https://, docker://, oci:, oci-archive:, docker-archive: or name[:version]");
  if (starts_with(what, "https://")) return fetch_remote(what, o, "");
  if (starts_with(what, "http://"))
    throw usage_error("refusing to fetch over plain http (" + what + "); use https://");
  if (starts_with(what, "file://")) return import_file(what.substr(7), what, o);
  if (starts_with(what, "docker://")) return fetch_registry(what, o);
  if (starts_with(what, "oci:") || starts_with(what, "oci-archive:") || starts_with(what, "docker-archive:"))
    return fetch_oci(what, o);
  if (what.find("://") != std::string::npos)
    throw usage_error("unsupported image source " + what +
                      "; use a path, file://, https://, docker://, oci:, oci-archive:, docker-archive: or name[:version]");
  struct stat st;
  if (::stat(what.c_str(), &st) == 0 || what.find(".aci") != std::string::npos || starts_with(what, "/") ||
      starts_with(what, "."))
    return import_file(what, what, o);
  return fetch_by_name(what, o);
}

std::string ImageStore::import_file(const std::string& path, const std::string& source, const FetchOptions& o,
                                   std::string* signer_out) {
  int in = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (in < 0) {
    if (errno == ENOENT) throw Error("image file " + path + " does not exist", ENOENT, ErrorKind::NotFound);
    throw_sys("cannot open image file " + path);
  }
  UniqueFd infd(in);
  struct stat st = stat_fd(in);
  if (!S_ISREG(st.st_mode)) throw Error("image file " + path + " is not a regular file");

  // Concurrent fetches of the same file serialise on its key; the source
  // record then answers the second one without re-reading the file.
  const std::string key = source_key("file", path);
  FileLock src_lock;
  bool read_only = false;  // nothing can change the source record then: it is read without the lock
  try {
    src_lock = FileLock::acquire(locks_.get(), "src-" + key, LockMode::Exclusive);
  } catch (const Error& e) {
    if (e.errnum() != EROFS) throw;
    read_only = true;
  }
  const json ident = file_identity(st);
  if (auto id = cached_source(sources_.get(), index_.get(), blobs_.get(), key, ident,
                              [&](const json& c) { return source_record_serves(c, o); }))
    return *id;

  // The blob is the file as given; the tree is at least as large as it.
  try {
    if (read_only) throw_read_only_store(path_);
    check_free_space(tmp_.get(), 2 * static_cast<uint64_t>(st.st_size), path_);
  } catch (const Error& e) {
    throw e.with_context("cannot import " + path);
  }
  Staging stage(tmp_.get(), locks_.get());
  int blob = ::openat(stage.fd(), "blob", O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0444);
  if (blob < 0) throw_sys("cannot create the image blob");
  UniqueFd blobfd(blob);
  UniqueFd treefd = mkdirs_at(stage.fd(), "tree", 0755);
  ExtractOptions eo;
  eo.allow_devices = o.allow_devices;
  if (o.max_entries) eo.max_entries = o.max_entries;
  eo.max_bytes = o.max_uncompressed;
  ImportResult res;
  try {
    // import_aci reports the bytes of the file read (the blob is the file as given).
    ProgressLine bar("fetching " + path, static_cast<uint64_t>(st.st_size), ProgressLine::wanted(o.quiet));
    res = import_aci(in, blobfd.get(), treefd.get(), eo, [&](uint64_t n) { bar.update(n); });
  } catch (const Error& e) {
    throw e.with_context("cannot import " + path);
  }
  crashpoint("image-import-extracted");
  const std::string& id = res.id;
  const std::string signer = check_signature(in, st, path, source, res.extract.manifest, o);
  if (signer_out) *signer_out = signer;
  {
    FileLock l = FileLock::acquire(locks_.get(), image_lock_name(id), LockMode::Exclusive);
    if (!(exists_at(index_.get(), id + ".json") && exists_at(blobs_.get(), id))) {
      fsync_fd(blobfd.get(), "image blob");
      if (::renameat(stage.fd(), "blob", blobs_.get(), id.c_str()) < 0) throw_sys("cannot store blob " + id);
      fsync_fd(blobs_.get(), "blob directory");
      crashpoint("image-import-blob");
      // An image without dependencies and whitelist is its own tree: keep the extraction.
      const auto& m = res.extract.manifest;
      if (appc::manifest_dependencies(m).empty() && appc::manifest_path_whitelist(m).empty()) {
        const std::string tree = tree_id_of({id});
        FileLock tl = FileLock::acquire(locks_.get(), tree_lock_name(tree), LockMode::Exclusive);
        if (!exists_at(trees_.get(), tree)) {
          finish_tree(treefd.get(), {id});
          if (::renameat(stage.fd(), "tree", trees_.get(), tree.c_str()) < 0) throw_sys("cannot store tree " + tree);
          fsync_fd(trees_.get(), "tree directory");
        }
      }
      ImageRecord r;
      r.id = id;
      r.name = appc::manifest_name(m);
      r.labels = appc::manifest_labels(m);
      r.import_time = r.last_used = Clock::now();
      r.size = res.size;
      r.has_devices = res.extract.has_devices;
      r.source = source;
      r.manifest = m;
      write_record(index_.get(), r);  // commit point
      crashpoint("image-import-record");
    }
  }
  if (!starts_with(source, "https://"))  // downloads are remembered by URL in fetch_remote
    write_file_atomic_at(sources_.get(), key + ".json", source_record(id, signer, {"file", ident}).dump() + "\n");
  return id;
}

}  // namespace pod::images
