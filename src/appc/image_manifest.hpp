// The appc image manifest (spec/aci.md "Image Manifest Schema"): parsing,
// full validation and typed accessors for the fields the store needs.
#pragma once
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace pod::appc {

inline constexpr const char* kImageManifestKind = "ImageManifest";
inline constexpr unsigned long kSupportedMajor = 0;   // we implement appc 0.x
inline constexpr size_t kMaxManifestSize = 1 << 20;   // bytes

// Parse JSON text and validate it. Throws pod::Error whose message names the
// offending field ("invalid image manifest: app.ports[0].port: …").
nlohmann::json parse_image_manifest(const std::string& text);
// Validate an already-parsed manifest (same errors as above).
void validate_image_manifest(const nlohmann::json& m);

struct Dependency {
  std::string image_name;
  std::string image_id;                       // empty when not pinned
  std::map<std::string, std::string> labels;
  std::optional<uint64_t> size;
};

// Accessors; they assume a validated manifest.
std::string manifest_name(const nlohmann::json& m);
std::map<std::string, std::string> manifest_labels(const nlohmann::json& m);
std::vector<Dependency> manifest_dependencies(const nlohmann::json& m);
// Entries of pathWhitelist made relative to the rootfs ("/etc/passwd" -> "etc/passwd").
std::vector<std::string> manifest_path_whitelist(const nlohmann::json& m);

// The value of the annotation `name` (nullopt when absent); any JSON, validated or not.
std::optional<std::string> manifest_annotation(const nlohmann::json& m, const char* name);

// Supported os/arch label pairs (arch is only meaningful with os).
bool valid_os_arch(const std::string& os, const std::string& arch);

}  // namespace pod::appc
