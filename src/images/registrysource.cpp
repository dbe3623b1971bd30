// docker:// images: the registry client (registry.cpp) as an OciSource.
#include "images/ocisource.hpp"
#include "images/registry.hpp"
#include "images/store.hpp"
#include "util/error.hpp"

namespace pod::images {

namespace {

class RegistrySource : public OciSource {
 public:
  RegistrySource(RegistryRef ref, RegistryOptions o) : ref_(ref), client_(std::move(ref), std::move(o)) {}

  std::string describe() const override { return "docker://" + ref_.str(); }
  oci::Naming naming() const override { return {ref_.registry + "/" + ref_.repository, ref_.tag}; }
  std::string manifest(std::string& digest) override {
    auto m = client_.image_manifest();
    digest = m.digest;
    return m.body;
  }
  std::string blob_small(const std::string& digest, size_t max) override { return client_.blob_small(digest, max); }
  void blob_to_fd(const std::string& digest, int fd, uint64_t size,
                  const std::function<void(uint64_t)>& progress) override {
    client_.blob_to_fd(digest, fd, size, progress);
  }

 private:
  RegistryRef ref_;
  RegistryClient client_;
};

RegistryOptions registry_options(const FetchOptions& o) {
  RegistryOptions ro;
  ro.insecure_http = o.insecure_http;
  ro.insecure_tls = o.insecure_tls;
  ro.auth_file = o.registry_auth_file;
  ro.credentials = o.registry_credentials;
  ro.platform = oci::parse_platform(o.platform);
  return ro;
}

}  // namespace

std::string registry_image_ref(const std::string& docker_url) {
  const RegistryRef r = parse_registry_ref(docker_url.substr(std::string("docker://").size()));
  const std::string name = r.registry + "/" + r.repository;
  return r.digest.empty() ? name + ":" + r.tag : name + "@" + r.digest;
}

std::string ImageStore::fetch_registry(const std::string& what, const FetchOptions& o) {
  RegistrySource src(parse_registry_ref(what.substr(std::string("docker://").size())), registry_options(o));
  return import_oci(src, o, what);
}

}  // namespace pod::images
