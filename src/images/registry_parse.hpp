// Parsers for what registries and users hand the registry client
// (images/registry.hpp): WWW-Authenticate challenges, token replies,
// manifests and indexes, auth.json. No I/O besides reading auth files, so
// they are unit-tested and fuzzed (tests/fuzz/registry.cpp). Malformed input
// is a pod::Error (ErrorKind::Invalid) naming the problem, never another
// exception.
#pragma once
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "images/registry.hpp"

namespace pod::images {

inline constexpr const char* kMediaOciManifest = "application/vnd.oci.image.manifest.v1+json";
inline constexpr const char* kMediaOciIndex = "application/vnd.oci.image.index.v1+json";
inline constexpr const char* kMediaDockerManifest = "application/vnd.docker.distribution.manifest.v2+json";
inline constexpr const char* kMediaDockerList = "application/vnd.docker.distribution.manifest.list.v2+json";

// "sha256:" and 64 lowercase hex digits.
bool is_sha256_digest(const std::string& d);

// One challenge of a WWW-Authenticate header: scheme lower-cased ("bearer",
// "basic"), parameter names lower-cased, quoted values unescaped.
struct AuthChallenge {
  std::string scheme;
  std::map<std::string, std::string> params;
};
std::vector<AuthChallenge> parse_www_authenticate(std::string_view header);

// The token of a token server's JSON reply ("token", else "access_token").
std::string parse_token_reply(const std::string& body, const std::string& what);

struct Descriptor {
  std::string media_type, digest;
  uint64_t size = 0;
  std::optional<Platform> platform;  // index entries
};
struct ParsedManifest {
  bool index = false;                // an OCI index or Docker manifest list
  std::string media_type;
  Descriptor config;                 // image manifests
  std::vector<Descriptor> entries;   // layers, or the index's manifests
};
// body: the manifest; content_type: the reply's Content-Type (may be empty).
// Schema 1 and unknown media types are refused.
ParsedManifest parse_manifest(const std::string& body, const std::string& content_type, const std::string& what);
// The index entry for p (a p without variant matches any variant); an error
// listing the index's platforms when none matches.
const Descriptor& select_platform(const ParsedManifest& index, const Platform& p, const std::string& what);

// auth.json ({"auths": {"host[:port]": {"auth": "base64(user:password)"}}}):
// the "auth" of registry (keys may have a scheme and a path, docker.io has
// aliases), nullopt when the file has none.
std::optional<std::string> auth_from_json(const std::string& text, const std::string& registry,
                                          const std::string& file);
// The files searched, in order: explicit_file if not empty, $REGISTRY_AUTH_FILE,
// $XDG_RUNTIME_DIR/containers/auth.json, $HOME/.docker/config.json.
std::vector<std::string> auth_file_candidates(const std::string& explicit_file);
struct FoundAuth {
  std::string auth, file;
};
// The first candidate file that exists and has an entry for registry.
// An explicit file that does not exist is an error.
std::optional<FoundAuth> find_registry_auth(const std::string& registry, const std::string& explicit_file);

}  // namespace pod::images
