// OCI image-spec and Docker schema2 documents: image indexes / manifest
// lists, image manifests and image configs, parsed strictly (every error
// names the document and field), and the mapping of an image config onto an
// appc image manifest (Documentation/images.md "OCI and Docker images").
#pragma once
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace pod::images::oci {

inline constexpr const char* kIndexOci = "application/vnd.oci.image.index.v1+json";
inline constexpr const char* kIndexDocker = "application/vnd.docker.distribution.manifest.list.v2+json";
inline constexpr const char* kManifestOci = "application/vnd.oci.image.manifest.v1+json";
inline constexpr const char* kManifestDocker = "application/vnd.docker.distribution.manifest.v2+json";
inline constexpr size_t kMaxDocument = 4 << 20;  // manifests, indexes and configs

struct Platform {
  std::string os = "linux", arch = "amd64", variant;
  std::string str() const { return os + "/" + arch + (variant.empty() ? "" : "/" + variant); }
};
// "OS/ARCH[/VARIANT]"; "" is linux/amd64. Usage error otherwise.
Platform parse_platform(const std::string& s);

struct Descriptor {
  std::string media_type, digest;  // digest: "sha256:<64 hex>"
  uint64_t size = 0;
  std::map<std::string, std::string> annotations;
  bool has_platform = false;
  Platform platform;
};

bool is_index_type(const std::string& media_type);
bool is_manifest_type(const std::string& media_type);
// "sha256:<64 lowercase hex>" (the only algorithm pod accepts).
bool valid_digest(const std::string& d);
// "sha256:<hex>" -> "sha256-<hex>", the file name used in the store.
std::string digest_key(const std::string& d);

// An index or manifest list: its manifests. `doc` names it in errors.
std::vector<Descriptor> parse_index(const std::string& text, const std::string& doc);
// The manifest for `p` among an index's entries; error listing what there is.
Descriptor select_platform(const std::vector<Descriptor>& manifests, const Platform& p, const std::string& doc);

struct Manifest {
  Descriptor config;
  std::vector<Descriptor> layers;
};
// An OCI or Docker schema2 image manifest; schema1 and unknown media types are refused.
Manifest parse_manifest(const std::string& text, const std::string& doc);
// The media type given in the document itself ("" when absent).
std::string document_media_type(const std::string& text, const std::string& doc);

// Is this a layer media type pod can unpack (tar, gzip, zstd; OCI and Docker spellings)?
void check_layer_type(const Descriptor& d, const std::string& doc);

struct Config {
  std::string os, arch, variant;
  std::vector<std::string> entrypoint, cmd, env, volumes, exposed_ports;
  std::string user, working_dir;
  std::map<std::string, std::string> labels;
  std::vector<std::string> diff_ids;  // rootfs.diff_ids, bottom layer first
};
Config parse_config(const std::string& text, const std::string& doc);

struct Naming {
  std::string name;  // registry/repository, or the layout's name
  std::string tag;   // "" when none
};
// The appc image manifest pod runs an OCI image as. `group` is the user's
// primary group as the image's /etc/passwd says (resolved by the caller).
nlohmann::json appc_manifest(const Config& c, const Naming& n, const std::string& group);
// The user and group parts of Config::user ("name", "uid:gid", ...); user "" is "0".
std::pair<std::string, std::string> split_user(const std::string& user);

// Annotations that carry the image's Entrypoint and Cmd (JSON arrays), so
// that --exec can replace the entrypoint as docker's --entrypoint does.
inline constexpr const char* kEntrypointAnnotation = "pod.io/oci-entrypoint";
inline constexpr const char* kCmdAnnotation = "pod.io/oci-cmd";

}  // namespace pod::images::oci
