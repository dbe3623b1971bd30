// The CRI ImageService (images.hpp).
#include "cri/images.hpp"

#include <ftw.h>
#include <sys/stat.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <set>

#include "config/config.hpp"
#include "cri/status.hpp"
#include "images/registry.hpp"
#include "util/base64.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"

namespace pod::cri {

namespace v1 = runtime::v1;

namespace {

bool starts_with(const std::string& s, const std::string& p) { return s.rfind(p, 0) == 0; }

bool is_id_ref(const std::string& r) {
  return starts_with(r, "sha256:") || starts_with(r, "sha256-") || starts_with(r, "sha512-") ||
         (r.size() == 64 && r.find_first_not_of("0123456789abcdef") == std::string::npos);
}

// "sha256:<hex>", "sha256-<hex>" or a bare 64-hex digest -> pod's "sha256-<hex>" (prefixes of 8+ digits).
std::optional<ImageSummary> find_by_id(const std::vector<ImageSummary>& all, const std::string& ref) {
  std::string key = ref;
  if (starts_with(key, "sha256:")) key = "sha256-" + key.substr(7);
  else if (key.size() == 64 && !starts_with(key, "sha")) key = "sha256-" + key;
  if (key.size() < 7 + 8) throw usage_error("image ID \"" + ref + "\" is too short");
  std::optional<ImageSummary> hit;
  for (const auto& s : all) {
    if (!starts_with(s.id, key)) continue;
    if (hit) throw usage_error("image ID prefix \"" + ref + "\" is ambiguous");
    hit = s;
  }
  return hit;
}

// REGISTRY/NAME of a stored reference (NAME:TAG or NAME@DIGEST).
std::string repo_of(const std::string& ref) {
  if (auto at = ref.find('@'); at != std::string::npos) return ref.substr(0, at);
  auto colon = ref.rfind(':');
  return colon != std::string::npos && ref.find('/', colon) == std::string::npos ? ref.substr(0, colon) : ref;
}

// Bytes (st_blocks) and inodes under a directory, not crossing mounts.
struct DiskUsage {
  uint64_t bytes = 0, inodes = 0;
};
thread_local DiskUsage* g_usage = nullptr;
int count_entry(const char*, const struct stat* st, int, struct FTW*) {
  g_usage->bytes += static_cast<uint64_t>(st->st_blocks) * 512;
  g_usage->inodes += 1;
  return 0;
}
DiskUsage disk_usage(const std::string& dir) {
  DiskUsage u;
  g_usage = &u;
  if (::nftw(dir.c_str(), count_entry, 32, FTW_PHYS | FTW_MOUNT) != 0) throw_sys("cannot measure " + dir);
  g_usage = nullptr;
  return u;
}

}  // namespace

std::string cri_image_id(const std::string& pod_id) {
  return starts_with(pod_id, "sha256-") ? "sha256:" + pod_id.substr(7) : pod_id;
}

std::optional<ImageSummary> find_image(const pod::Runtime& rt, const std::string& ref) {
  if (ref.empty()) throw usage_error("the image reference is empty");
  const auto all = rt.list_images();
  if (is_id_ref(ref)) return find_by_id(all, ref);
  const images::RegistryRef r = images::parse_registry_ref(ref);
  const std::string repo = r.registry + "/" + r.repository;
  for (const auto& s : all) {
    const bool named = std::any_of(s.refs.begin(), s.refs.end(), [&](const std::string& x) {
      return r.digest.empty() ? x == r.str() : repo_of(x) == repo;
    });
    if (named && (r.digest.empty() || s.manifest_digest == r.digest)) return s;
  }
  return std::nullopt;
}

void fill_image(const pod::Runtime& rt, const ImageSummary& s, v1::Image* out) {
  out->set_id(cri_image_id(s.id));
  std::set<std::string> digests;
  for (const auto& ref : s.refs) {
    if (ref.find('@') != std::string::npos) digests.insert(ref);
    else out->add_repo_tags(ref);
    if (!s.manifest_digest.empty()) digests.insert(repo_of(ref) + "@" + s.manifest_digest);
  }
  if (s.refs.empty() && !s.name.empty()) {  // an ACI: its name and version label
    auto v = s.labels.find("version");
    out->add_repo_tags(s.name + ":" + (v == s.labels.end() ? "latest" : v->second));
  }
  for (const auto& d : digests) out->add_repo_digests(d);
  out->set_size(s.size);
  const auto m = nlohmann::json::parse(rt.image_manifest(s.id, false));
  const auto app = m.find("app");
  if (app != m.end() && app->is_object() && app->contains("user") && (*app)["user"].is_string()) {
    const std::string u = (*app)["user"];
    if (!u.empty() && u.find_first_not_of("0123456789") == std::string::npos) out->mutable_uid()->set_value(std::stoll(u));
    else if (!u.empty()) out->set_username(u);
  }
  out->mutable_spec()->set_image(cri_image_id(s.id));
}

grpc::Status ImageService::ListImages(grpc::ServerContext*, const v1::ListImagesRequest* req,
                                      v1::ListImagesResponse* resp) {
  return guarded("ListImages", [&] {
    auto rt = env_.runtime();
    if (req->has_filter() && req->filter().has_image() && !req->filter().image().image().empty()) {
      if (auto s = find_image(rt, req->filter().image().image())) fill_image(rt, *s, resp->add_images());
      return grpc::Status::OK;
    }
    for (const auto& s : rt.list_images()) fill_image(rt, s, resp->add_images());
    return grpc::Status::OK;
  });
}

grpc::Status ImageService::ImageStatus(grpc::ServerContext*, const v1::ImageStatusRequest* req,
                                       v1::ImageStatusResponse* resp) {
  return guarded("ImageStatus", [&] {
    if (!req->has_image() || req->image().image().empty()) return invalid("ImageStatus: image.image is empty");
    auto rt = env_.runtime();
    auto s = find_image(rt, req->image().image());
    if (!s) return grpc::Status::OK;  // the CRI: an absent image is no image, not an error
    fill_image(rt, *s, resp->mutable_image());
    if (req->verbose())
      (*resp->mutable_info())["info"] =
          nlohmann::json{{"id", s->id}, {"source", s->source}, {"name", s->name},
                         {"manifest", nlohmann::json::parse(rt.image_manifest(s->id, false))}}.dump();
    return grpc::Status::OK;
  });
}

grpc::Status ImageService::PullImage(grpc::ServerContext*, const v1::PullImageRequest* req,
                                     v1::PullImageResponse* resp) {
  return guarded("PullImage", [&] {
    if (!req->has_image() || req->image().image().empty()) return invalid("PullImage: image.image is empty");
    const std::string& given = req->image().image();
    if (is_id_ref(given)) return invalid("PullImage: \"" + given + "\" is an image ID; pull a registry reference");
    const images::RegistryRef ref = images::parse_registry_ref(given);
    const config::Config cfg = config::load(env_.data_dir);
    FetchOptions o;
    o.quiet = true;
    o.max_uncompressed = cfg.images.max_uncompressed;
    o.max_entries = cfg.images.max_entries;
    o.registry_auth_file = cfg.auth.registry_file;
    const auto& insecure = env_.opts.insecure_registries;
    o.insecure_http = std::find(insecure.begin(), insecure.end(), ref.registry) != insecure.end();
    if (req->has_auth()) {
      const auto& a = req->auth();
      std::string token = a.auth();
      if (token.empty() && !a.username().empty()) token = base64(a.username() + ":" + a.password());
      if (token.empty() && (!a.identity_token().empty() || !a.registry_token().empty()))
        return invalid("PullImage: auth.identity_token and auth.registry_token are not supported; give "
                       "username and password (or auth)");
      o.registry_credentials = token;
    }
    auto rt = env_.runtime();
    resp->set_image_ref(cri_image_id(rt.fetch_image("docker://" + ref.str(), o)));
    return grpc::Status::OK;
  });
}

grpc::Status ImageService::RemoveImage(grpc::ServerContext*, const v1::RemoveImageRequest* req,
                                       v1::RemoveImageResponse*) {
  return guarded("RemoveImage", [&] {
    if (!req->has_image() || req->image().image().empty()) return invalid("RemoveImage: image.image is empty");
    auto rt = env_.runtime();
    if (auto s = find_image(rt, req->image().image())) rt.remove_image(s->id);
    return grpc::Status::OK;  // idempotent: an image removed already is not an error
  });
}

grpc::Status ImageService::ImageFsInfo(grpc::ServerContext*, const v1::ImageFsInfoRequest*,
                                       v1::ImageFsInfoResponse* resp) {
  return guarded("ImageFsInfo", [&] {
    const std::string dir = env_.data_dir + "/images";
    const DiskUsage u = disk_usage(dir);
    auto* fs = resp->add_image_filesystems();
    fs->set_timestamp(std::chrono::duration_cast<std::chrono::nanoseconds>(
                          std::chrono::system_clock::now().time_since_epoch()).count());
    fs->mutable_fs_id()->set_mountpoint(dir);
    fs->mutable_used_bytes()->set_value(u.bytes);
    fs->mutable_inodes_used()->set_value(u.inodes);
    return grpc::Status::OK;
  });
}

}  // namespace pod::cri
