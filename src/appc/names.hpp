// appc naming rules (appc spec v0.8.11, types): AC Identifier, AC Name, AC Kind,
// environment variable names and Semantic Versioning 2.0.0.
#pragma once
#include <optional>
#include <string>

namespace pod::appc {

// ^[a-z0-9]+([-._~/][a-z0-9]+)*$ : image names, label names, isolator names…
bool is_ac_identifier(const std::string& s);
// ^[a-z0-9]+(-[a-z0-9]+)*$ : app, volume, mount point and port names.
bool is_ac_name(const std::string& s);
// Non-empty alphanumeric.
bool is_ac_kind(const std::string& s);
// ^[A-Za-z_][A-Za-z_0-9.-]*$
bool is_env_name(const std::string& s);

struct SemVer {
  unsigned long major = 0, minor = 0, patch = 0;
  std::string pre, build;
};
// Strict SemVer 2.0.0 (no leading "v", no leading zeros in numeric parts).
std::optional<SemVer> parse_semver(const std::string& s);

}  // namespace pod::appc
