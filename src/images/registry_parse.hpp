// Parsers for what registries and users hand the registry client
// (images/registry.hpp): WWW-Authenticate challenges, token replies,
// auth.json (manifests and indexes are images/oci.hpp's). No I/O besides reading auth files, so
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



// One challenge of a WWW-Authenticate header: scheme lower-cased ("bearer",
// "basic"), parameter names lower-cased, quoted values unescaped.
struct AuthChallenge {
  std::string scheme;
  std::map<std::string, std::string> params;
};
std::vector<AuthChallenge> parse_www_authenticate(std::string_view header);

// The token of a token server's JSON reply ("token", else "access_token").
std::string parse_token_reply(const std::string& body, const std::string& what);

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
