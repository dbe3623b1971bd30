// The store's hooks into image trust (src/trust): the signature check that
// import_file runs before an image's record is written, and the source-cache
// record that remembers whether (and by whom) an image was verified.
#include <sys/stat.h>

#include <cstdio>

#include "appc/image_manifest.hpp"
#include "images/store.hpp"
#include "trust/verify.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"

namespace pod::images {

using nlohmann::json;

std::string ImageStore::check_signature(int image_fd, const struct stat& opened, const std::string& path,
                                        const std::string& source, const json& manifest, const FetchOptions& o) const {
  if (o.insecure_image) {
    if (o.warn_unverified) std::fprintf(stderr, "%s\n", trust::unverified_warning(source).c_str());
    return "";
  }
  std::string signer = trust::verify_image(trust::KeyStore::for_data_dir(data_dir_), image_fd, path + ".asc", source,
                                           source + ".asc", appc::manifest_name(manifest));
  const struct stat now = stat_fd(image_fd);
  if (now.st_size != opened.st_size || now.st_mtim.tv_sec != opened.st_mtim.tv_sec ||
      now.st_mtim.tv_nsec != opened.st_mtim.tv_nsec || now.st_ctim.tv_sec != opened.st_ctim.tv_sec ||
      now.st_ctim.tv_nsec != opened.st_ctim.tv_nsec)
    throw Error("image file " + source + " changed while it was being fetched; fetch it again", 0, ErrorKind::Image);
  return signer;
}

json source_record(const std::string& id, const std::string& signer, const std::pair<std::string, json>& origin) {
  json r = {{"id", id}, {origin.first, origin.second}};
  if (!signer.empty()) r["signer"] = signer;
  return r;
}

bool source_record_serves(const json& record, const FetchOptions& o) {
  return o.insecure_image || record.contains("signer");
}

}  // namespace pod::images
