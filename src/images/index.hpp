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
};

nlohmann::json record_to_json(const ImageRecord& r);
ImageRecord record_from_json(const nlohmann::json& j);

// index_fd: the open $DATA/images/index directory.
void write_record(int index_fd, const ImageRecord& r);
std::optional<ImageRecord> read_record(int index_fd, const std::string& id);
void remove_record(int index_fd, const std::string& id);
// IDs of every record (sorted).
std::vector<std::string> list_record_ids(int index_fd);

bool is_full_image_id(const std::string& s);
// "sha512-" + 32 hex.
std::string short_id(const std::string& id);

}  // namespace pod::images
