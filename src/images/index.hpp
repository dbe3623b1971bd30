// The image index: one small JSON record per image, $DATA/images/index/<id>.json,
// written atomically (temp + fsync + rename + fsync dir). The record is the
// commit point of an import: an image exists iff its record and its blob do.
#pragma once
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "util/time.hpp"

namespace pod::images {

// A layer of an OCI/docker image.
struct OciLayer {
  std::string digest;    // sha256:… of the blob as fetched (layers/sha256-<hex>)
  std::string diff_id;   // sha256:… of the uncompressed tar
  std::string media_type;
  uint64_t size = 0;     // compressed bytes
};

struct ImageRecord {
  std::string id;                               // sha512-<128 hex>
  std::string name;
  std::map<std::string, std::string> labels;
  Clock::time_point import_time{};
  Clock::time_point last_used{};
  uint64_t size = 0;                            // bytes of the uncompressed ACI blob
  bool has_devices = false;                     // imported with --allow-devices and has device nodes
  std::string source;                           // where it was fetched from
  nlohmann::json manifest;                      // the validated image manifest
  // OCI/docker images only (blobs/<id> is then their config, id = sha256-<config digest hex>):
  std::vector<OciLayer> layers;                 // bottom first; empty for an ACI
  std::string manifest_digest;                  // the image manifest it was fetched by
  std::vector<std::string> refs;                // every NAME:TAG it was fetched as
  bool is_oci() const { return id.rfind("sha256-", 0) == 0; }
};

nlohmann::json record_to_json(const ImageRecord& r);
ImageRecord record_from_json(const nlohmann::json& j);

// index_fd: the open $DATA/images/index directory.
void write_record(int index_fd, const ImageRecord& r);
std::optional<ImageRecord> read_record(int index_fd, const std::string& id);
void remove_record(int index_fd, const std::string& id);
// IDs of every record (sorted).
std::vector<std::string> list_record_ids(int index_fd);

// sha512-<128 hex> (an ACI) or sha256-<64 hex> (an OCI image's config digest).
bool is_full_image_id(const std::string& s);
// The first 32 hex digits with their algorithm prefix.
std::string short_id(const std::string& id);

}  // namespace pod::images
