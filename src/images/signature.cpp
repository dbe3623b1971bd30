// The store's hooks into image trust (src/trust): the signature check that
// import_file runs before an image's record is written, and the source-cache
// record that remembers whether (and by whom) an image was verified.
#include <cstdio>

#include "appc/image_manifest.hpp"
#include "images/store.hpp"
#include "trust/verify.hpp"

namespace pod::images {

using nlohmann::json;

std::string ImageStore::check_signature(int image_fd, const std::string& path, const std::string& source,
                                        const json& manifest, const FetchOptions& o) const {
  if (o.insecure_image) {
    if (o.warn_unverified) std::fprintf(stderr, "%s\n", trust::unverified_warning(source).c_str());
    return "";
  }
  return trust::verify_image(trust::KeyStore::for_data_dir(data_dir_), image_fd, path + ".asc", source,
                             source + ".asc", appc::manifest_name(manifest));
}

json source_record(const std::string& id, const std::string& signer, const std::pair<std::string, json>& origin) {
  json r = {{"id", id}, {origin.first, origin.second}};
  if (!signer.empty()) r["signer"] = signer;
  return r;
}

}  // namespace pod::images
