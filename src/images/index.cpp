#include "images/index.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "util/error.hpp"
#include "util/fs.hpp"

namespace pod::images {

using nlohmann::json;

namespace {
int64_t to_ns(Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}
Clock::time_point from_ns(int64_t ns) {
  return Clock::time_point(std::chrono::duration_cast<Clock::duration>(std::chrono::nanoseconds(ns)));
}
const std::string kSuffix = ".json";
}  // namespace

bool is_full_image_id(const std::string& s) {
  const size_t hex = s.rfind("sha512-", 0) == 0 ? 128 : s.rfind("sha256-", 0) == 0 ? 64 : 0;
  return hex && s.size() == 7 + hex && s.find_first_not_of("0123456789abcdef", 7) == std::string::npos;
}

std::string short_id(const std::string& id) { return id.substr(0, std::min<size_t>(id.size(), 7 + 32)); }

json record_to_json(const ImageRecord& r) {
  json j{{"id", r.id},
              {"name", r.name},
              {"labels", r.labels},
              {"importTimeNs", to_ns(r.import_time)},
              {"lastUsedNs", to_ns(r.last_used)},
              {"size", r.size},
              {"hasDevices", r.has_devices},
              {"source", r.source},
              {"manifest", r.manifest}};
  if (r.is_oci()) {
    json layers = json::array();
    for (const auto& l : r.layers)
      layers.push_back({{"digest", l.digest}, {"diffID", l.diff_id}, {"mediaType", l.media_type}, {"size", l.size}});
    j["layers"] = layers;
    j["manifestDigest"] = r.manifest_digest;
    j["refs"] = r.refs;
  }
  return j;
}

ImageRecord record_from_json(const json& j) {
  ImageRecord r;
  r.id = j.at("id").get<std::string>();
  r.name = j.at("name").get<std::string>();
  r.labels = j.at("labels").get<std::map<std::string, std::string>>();
  r.import_time = from_ns(j.at("importTimeNs").get<int64_t>());
  r.last_used = from_ns(j.at("lastUsedNs").get<int64_t>());
  r.size = j.at("size").get<uint64_t>();
  r.has_devices = j.value("hasDevices", false);
  r.source = j.value("source", "");
  r.manifest = j.at("manifest");
  if (j.contains("layers"))
    for (const auto& l : j.at("layers"))
      r.layers.push_back({l.at("digest").get<std::string>(), l.at("diffID").get<std::string>(),
                          l.at("mediaType").get<std::string>(), l.at("size").get<uint64_t>()});
  r.manifest_digest = j.value("manifestDigest", "");
  if (j.contains("refs")) r.refs = j.at("refs").get<std::vector<std::string>>();
  return r;
}

void write_record(int index_fd, const ImageRecord& r) {
  write_file_atomic_at(index_fd, r.id + kSuffix, record_to_json(r).dump() + "\n", 0644);
}

std::optional<ImageRecord> read_record(int index_fd, const std::string& id) {
  auto text = try_read_file_at(index_fd, id + kSuffix, 4 << 20);
  if (!text) return std::nullopt;
  try {
    return record_from_json(json::parse(*text));
  } catch (const json::exception& e) {
    throw Error("image index record " + id + " is unreadable (" + e.what() +
                "); run `pod image verify` to quarantine it");
  }
}

void remove_record(int index_fd, const std::string& id) {
  if (::unlinkat(index_fd, (id + kSuffix).c_str(), 0) < 0 && errno != ENOENT) throw_sys("cannot remove index record " + id);
  fsync_fd(index_fd, "image index");
}

std::vector<std::string> list_record_ids(int index_fd) {
  std::vector<std::string> out;
  for (auto& n : list_dir(index_fd)) {
    if (n.size() <= kSuffix.size() || n.compare(n.size() - kSuffix.size(), kSuffix.size(), kSuffix) != 0) continue;
    std::string id = n.substr(0, n.size() - kSuffix.size());
    if (is_full_image_id(id)) out.push_back(id);
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace pod::images
