// A client of the Docker Registry HTTP API v2 / OCI distribution spec: image
// references, manifests (with platform selection from an index), blobs
// (sha256 verified while streaming, resumed with Range requests), and
// Bearer/Basic auth with credentials from auth.json (Documentation/images.md,
// "Registries and HTTP"). The parsers of what a registry sends are in
// images/registry_parse.hpp.
#pragma once
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "images/oci.hpp"
#include <vector>

namespace pod::images {

struct RegistryRef {
  std::string registry;  // host[:port]; "docker.io" for Docker Hub
  std::string repository, tag, digest;  // digest: "sha256:<hex>" or ""
  std::string str() const;              // registry/repository[:tag][@digest]
};

// "HOST[:PORT]/NAME[:TAG|@sha256:DIGEST]" (the part after docker://), by
// Docker's rules: no registry host -> docker.io (repository "library/x" for a
// single component); no tag or digest -> tag "latest". Anything invalid is a
// usage error naming the problem.
RegistryRef parse_registry_ref(const std::string& s);
// The host the API is reached at: registry-1.docker.io for docker.io.
std::string registry_api_host(const RegistryRef& r);

using Platform = oci::Platform;

struct RegistryOptions {
  bool insecure_http = false, insecure_tls = false;
  Platform platform;
  std::string auth_file;  // "" = default search (find_registry_auth)
  std::string credentials;  // base64(user:password) given by the caller: used before any auth file
};

class RegistryClient {
 public:
  RegistryClient(RegistryRef ref, RegistryOptions o);

  struct Manifest {
    std::string digest;      // sha256:... of body
    std::string media_type;  // an OCI or Docker schema 2 image manifest
    std::string body;
  };
  // The image manifest of the reference; an index or manifest list is
  // resolved to the manifest for the options' platform. Digests verified.
  Manifest image_manifest();
  // A whole blob (e.g. the config) of at most max_bytes; sha256 verified.
  std::string blob_small(const std::string& digest, size_t max_bytes);
  // Streams the blob into fd, appending from its current size (resuming);
  // sha256 verified while streaming; interrupted transfers are retried from
  // the current offset (up to 3 times); size checked against expected_size
  // when > 0. progress gets the bytes in fd so far.
  void blob_to_fd(const std::string& digest, int fd, uint64_t expected_size,
                  const std::function<void(uint64_t)>& progress);

  const RegistryRef& ref() const { return ref_; }

 private:
  struct Reply;
  Reply send(const std::string& path, const std::vector<std::string>& headers,
             const std::function<void(const char*, size_t)>& sink, uint64_t resume_from = 0);
  Reply send_small(const std::string& path, const std::vector<std::string>& headers, size_t max);
  void connect();  // picks the scheme, learns the auth challenge
  void authenticate(const std::string& challenge, const std::string& url);
  Manifest fetch_manifest(const std::string& reference, const std::string& expect_digest);
  std::string url(const std::string& path) const;
  std::string creds_note() const;  // where the credentials came from, for messages

  RegistryRef ref_;
  RegistryOptions o_;
  std::string scheme_;         // "https" or "http", once connected
  std::string authorization_;  // "Authorization: ..." once authenticated
  std::optional<std::string> basic_;  // base64(user:password) from auth.json
  std::string basic_file_;            // where it came from
  bool basic_looked_up_ = false;
};

}  // namespace pod::images
