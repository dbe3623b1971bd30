#include "images/ocisource.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <map>
#include <vector>

#include "contract/jsonread.hpp"
#include "images/import.hpp"
#include "util/digest.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"

namespace pod::images {

using nlohmann::json;

namespace {

constexpr const char* kRefName = "org.opencontainers.image.ref.name";
constexpr int kMaxIndexDepth = 4;

void write_all(int fd, const char* p, size_t n, const std::string& what) {
  while (n > 0) {
    ssize_t w = ::write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      if (errno == ENOSPC) throw Error("disk full while storing " + what + "; free some space (pod image gc) and retry", ENOSPC);
      throw_sys("cannot store " + what);
    }
    p += w;
    n -= static_cast<size_t>(w);
  }
}

UniqueFd open_regular(int dirfd, const std::string& rel, const std::string& what) {
  UniqueFd fd;
  try {
    fd = open_beneath(dirfd, rel, O_RDONLY);
  } catch (const Error& e) {
    if (e.errnum() == ENOENT) throw Error(what + " is missing (" + rel + ")", ENOENT, ErrorKind::NotFound);
    throw e.with_context(what);
  }
  if (!S_ISREG(stat_fd(fd.get()).st_mode)) throw Error(what + " (" + rel + ") is not a regular file");
  return fd;
}

std::string read_verified(int fd, const std::string& digest, size_t max, const std::string& what) {
  const struct stat st = stat_fd(fd);
  if (static_cast<uint64_t>(st.st_size) > max)
    throw Error(what + " is " + std::to_string(st.st_size) + " bytes, over the " + std::to_string(max) + "-byte limit");
  std::string text = read_fd(fd, what, max);
  const std::string got = "sha256:" + sha256_hex(text);
  if (got != digest) throw Error(what + " does not match its digest: expected " + digest + ", got " + got);
  return text;
}

std::string base_name(std::string p) {
  while (p.size() > 1 && p.back() == '/') p.pop_back();
  auto slash = p.rfind('/');
  return slash == std::string::npos ? p : p.substr(slash + 1);
}

// "name:tag" (tag after the last '/') -> {name, tag}.
oci::Naming split_ref(const std::string& ref) {
  auto colon = ref.rfind(':');
  auto slash = ref.rfind('/');
  if (colon == std::string::npos || (slash != std::string::npos && colon < slash)) return {ref, "latest"};
  return {ref.substr(0, colon), ref.substr(colon + 1)};
}

// The entries of index.json and image indexes.
class LayoutSource : public OciSource {
 public:
  LayoutSource(UniqueFd dir, std::string describe, std::string dir_name, std::string ref, oci::Platform p)
      : dir_(std::move(dir)), describe_(std::move(describe)), dir_name_(std::move(dir_name)), ref_(std::move(ref)),
        platform_(std::move(p)) {}

  std::string describe() const override { return describe_; }

  oci::Naming naming() const override {
    // A full reference as the ref name ("docker.io/library/busybox:1.36") names the image; a bare tag
    // ("1.36") is a tag of the layout, named after its directory.
    if (ref_name_.find('/') != std::string::npos) return split_ref(ref_name_);
    return {dir_name_, ref_name_.empty() ? "latest" : ref_name_};
  }

  std::string manifest(std::string& digest) override {
    UniqueFd layout = open_regular(dir_.get(), "oci-layout", describe_ + ": the oci-layout file");
    const std::string doc = describe_ + " index.json";
    UniqueFd ifd = open_regular(dir_.get(), "index.json", doc);
    const auto entries = oci::parse_index(read_fd(ifd.get(), doc, oci::kMaxDocument), doc);
    oci::Descriptor d = pick(entries, doc);
    for (int depth = 0; depth < kMaxIndexDepth; ++depth) {
      const std::string what = describe_ + " manifest " + d.digest;
      std::string text = blob_small(d.digest, oci::kMaxDocument);
      std::string mt = d.media_type.empty() ? oci::document_media_type(text, what) : d.media_type;
      if (oci::is_index_type(mt)) {
        d = oci::select_platform(oci::parse_index(text, what), platform_, what);
        continue;
      }
      digest = d.digest;
      return text;
    }
    throw Error(describe_ + ": image indexes nested more than " + std::to_string(kMaxIndexDepth) + " deep");
  }

  std::string blob_small(const std::string& digest, size_t max) override {
    const std::string what = describe_ + " blob " + digest;
    UniqueFd fd = open_blob(digest, what);
    return read_verified(fd.get(), digest, max, what);
  }

  void blob_to_fd(const std::string& digest, int fd, uint64_t size,
                  const std::function<void(uint64_t)>& progress) override {
    const std::string what = describe_ + " blob " + digest;
    UniqueFd in = open_blob(digest, what);
    copy_verified(in.get(), fd, digest, size, what, progress);
  }

 private:
  UniqueFd open_blob(const std::string& digest, const std::string& what) {
    if (!oci::valid_digest(digest)) throw Error(what + ": not a sha256 digest");
    return open_regular(dir_.get(), "blobs/sha256/" + digest.substr(7), what);
  }

  oci::Descriptor pick(const std::vector<oci::Descriptor>& entries, const std::string& doc) {
    if (entries.empty()) throw Error(doc + " lists no images", ENOENT, ErrorKind::NotFound);
    std::vector<const oci::Descriptor*> hits;
    std::string names;
    for (const auto& e : entries) {
      auto it = e.annotations.find(kRefName);
      const std::string n = it == e.annotations.end() ? "" : it->second;
      if (!n.empty()) names += (names.empty() ? "" : ", ") + n;
      const bool match = ref_.empty() || n == ref_ || (n.size() > ref_.size() && n.ends_with(":" + ref_));
      if (match) hits.push_back(&e);
    }
    if (hits.empty())
      throw Error(doc + " has no image tagged \"" + ref_ + "\"" + (names.empty() ? "" : " (it has: " + names + ")"),
                  ENOENT, ErrorKind::NotFound);
    if (hits.size() > 1) {
      // Several images for several platforms, without names: choose like an index.
      std::vector<oci::Descriptor> many;
      for (const auto* h : hits) many.push_back(*h);
      bool platforms = std::all_of(many.begin(), many.end(), [](const auto& m) { return m.has_platform; });
      if (!platforms)
        throw usage_error(doc + " holds several images" + (names.empty() ? "" : " (" + names + ")") +
                          "; name one as " + describe_ + ":TAG");
      auto chosen = oci::select_platform(many, platform_, doc);
      ref_name_ = chosen.annotations.count(kRefName) ? chosen.annotations.at(kRefName) : "";
      return chosen;
    }
    ref_name_ = hits[0]->annotations.count(kRefName) ? hits[0]->annotations.at(kRefName) : ref_;
    return *hits[0];
  }

  UniqueFd dir_;
  std::string describe_, dir_name_, ref_, ref_name_;
  oci::Platform platform_;
};

// Unpack an archive (any compression pod reads) into staging_fd, by the hostile-archive rules.
void unpack_archive(const std::string& file, int staging_fd, const std::string& what) {
  int in = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (in < 0) {
    if (errno == ENOENT) throw Error(what + ": " + file + " does not exist", ENOENT, ErrorKind::NotFound);
    throw_sys(what + ": cannot open " + file);
  }
  UniqueFd infd(in);
  ExtractOptions eo;
  eo.layer = true;
  eo.rootfs_only = true;
  eo.overwrite = true;
  eo.need_manifest = false;
  try {
    import_aci(in, -1, staging_fd, eo, nullptr, HashAlg::Sha256);
  } catch (const Error& e) {
    throw e.with_context(what);
  }
}

// What `docker save` writes: manifest.json names the config and the layer files.
class DockerArchiveSource : public OciSource {
 public:
  DockerArchiveSource(int dir, std::string describe, const std::string& ref)
      : dir_(dir), describe_(std::move(describe)) {
    const std::string doc = describe_ + " manifest.json";
    UniqueFd mfd = open_regular(dir_, "manifest.json", doc);
    json j = contract::parse_json(read_fd(mfd.get(), doc, oci::kMaxDocument), doc, oci::kMaxDocument);
    contract::Field root(doc, j);
    if (root.size() == 0) throw Error(doc + " lists no images", ENOENT, ErrorKind::NotFound);
    std::string tags;
    std::optional<size_t> chosen;
    for (size_t i = 0; i < root.size(); ++i) {
      for (const auto& t : root.at(i).key("RepoTags").strings()) {
        tags += (tags.empty() ? "" : ", ") + t;
        if (!chosen && (t == ref || t == ref + ":latest")) {
          chosen = i;
          tag_ = t;
        }
      }
    }
    if (ref.empty()) {
      if (root.size() > 1) throw usage_error(doc + " holds several images (" + tags + "); name one as " + describe_ + ":NAME:TAG");
      chosen = 0;
      auto t = root.at(0).key("RepoTags").strings();
      tag_ = t.empty() ? "" : t[0];
    }
    if (!chosen)
      throw Error(doc + " has no image tagged \"" + ref + "\"" + (tags.empty() ? "" : " (it has: " + tags + ")"), ENOENT,
                  ErrorKind::NotFound);
    contract::Field img = root.at(*chosen);
    json manifest = {{"schemaVersion", 2}, {"mediaType", oci::kManifestOci}};
    manifest["config"] = describe_file(img.key("Config").str(), "application/vnd.oci.image.config.v1+json");
    manifest["layers"] = json::array();
    for (const auto& l : img.key("Layers").strings()) manifest["layers"].push_back(describe_file(l, ""));
    manifest_ = manifest.dump();
  }

  std::string describe() const override { return describe_; }
  oci::Naming naming() const override {
    if (tag_.empty()) return {base_name(describe_), "latest"};
    return split_ref(tag_);
  }
  std::string manifest(std::string& digest) override {
    digest = "sha256:" + sha256_hex(manifest_);
    return manifest_;
  }
  std::string blob_small(const std::string& digest, size_t max) override {
    UniqueFd fd = open_file(digest);
    return read_verified(fd.get(), digest, max, describe_ + " " + files_.at(digest));
  }
  void blob_to_fd(const std::string& digest, int fd, uint64_t size,
                  const std::function<void(uint64_t)>& progress) override {
    UniqueFd in = open_file(digest);
    copy_verified(in.get(), fd, digest, size, describe_ + " " + files_.at(digest), progress);
  }

 private:
  UniqueFd open_file(const std::string& digest) {
    auto it = files_.find(digest);
    if (it == files_.end()) throw Error(describe_ + " has no blob " + digest, ENOENT, ErrorKind::NotFound);
    return open_regular(dir_, it->second, describe_ + " " + it->second);
  }

  // A descriptor for a file of the archive; a layer's media type comes from its magic bytes.
  json describe_file(const std::string& rel, std::string media_type) {
    UniqueFd fd = open_regular(dir_, rel, describe_ + " " + rel);
    unsigned char magic[4] = {};
    ssize_t n = ::pread(fd.get(), magic, sizeof magic, 0);
    if (media_type.empty()) {
      media_type = "application/vnd.oci.image.layer.v1.tar";
      if (n >= 2 && magic[0] == 0x1f && magic[1] == 0x8b) media_type += "+gzip";
      else if (n >= 4 && magic[0] == 0x28 && magic[1] == 0xb5 && magic[2] == 0x2f && magic[3] == 0xfd) media_type += "+zstd";
    }
    const std::string digest = "sha256:" + sha256_fd_hex(fd.get(), describe_ + " " + rel);
    files_[digest] = rel;
    return {{"mediaType", media_type}, {"digest", digest}, {"size", stat_fd(fd.get()).st_size}};
  }

  int dir_;
  std::string describe_, tag_, manifest_;
  std::map<std::string, std::string> files_;  // digest -> path in the archive
};

}  // namespace

void copy_verified(int in_fd, int out_fd, const std::string& digest, uint64_t size, const std::string& what,
                   const std::function<void(uint64_t)>& progress) {
  Sha256 h;
  std::vector<char> buf(1 << 20);
  uint64_t total = 0, next = 0;
  for (;;) {
    ssize_t n = ::read(in_fd, buf.data(), buf.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      throw_sys("cannot read " + what);
    }
    if (n == 0) break;
    h.update(buf.data(), static_cast<size_t>(n));
    write_all(out_fd, buf.data(), static_cast<size_t>(n), what);
    if ((total + static_cast<uint64_t>(n)) >> 24 != total >> 24)  // every 16 MiB: start the write-back
      ::sync_file_range(out_fd, 0, 0, SYNC_FILE_RANGE_WRITE);
    total += static_cast<uint64_t>(n);
    if (size && total > size) throw Error(what + " is larger than the " + std::to_string(size) + " bytes its descriptor says");
    if (progress && total >= next) {
      progress(total);
      next = total + (4 << 20);
    }
  }
  if (progress) progress(total);
  if (size && total != size)
    throw Error(what + " is " + std::to_string(total) + " bytes, its descriptor says " + std::to_string(size));
  const std::string got = "sha256:" + h.hex_digest();
  if (got != digest) throw Error(what + " does not match its digest: expected " + digest + ", got " + got);
}

std::unique_ptr<OciSource> oci_layout_source(const std::string& dir, const std::string& ref,
                                             const oci::Platform& platform) {
  UniqueFd fd;
  try {
    fd = open_dir(dir);
  } catch (const Error& e) {
    if (e.errnum() == ENOENT) throw Error("OCI layout " + dir + " does not exist", ENOENT, ErrorKind::NotFound);
    throw;
  }
  return std::make_unique<LayoutSource>(std::move(fd), "oci:" + dir + (ref.empty() ? "" : ":" + ref), base_name(dir),
                                        ref, platform);
}

std::unique_ptr<OciSource> oci_archive_source(const std::string& file, const std::string& ref,
                                              const oci::Platform& platform, int staging_fd) {
  const std::string describe = "oci-archive:" + file + (ref.empty() ? "" : ":" + ref);
  unpack_archive(file, staging_fd, describe);
  std::string name = base_name(file);
  for (const char* ext : {".tar.gz", ".tgz", ".tar"})
    if (name.size() > std::strlen(ext) && name.ends_with(ext)) name.resize(name.size() - std::strlen(ext));
  return std::make_unique<LayoutSource>(UniqueFd(::fcntl(staging_fd, F_DUPFD_CLOEXEC, 3)), describe, name, ref,
                                        platform);
}

std::unique_ptr<OciSource> docker_archive_source(const std::string& file, const std::string& ref, int staging_fd) {
  const std::string describe = "docker-archive:" + file + (ref.empty() ? "" : ":" + ref);
  unpack_archive(file, staging_fd, describe);
  return std::make_unique<DockerArchiveSource>(staging_fd, describe, ref);
}

}  // namespace pod::images
