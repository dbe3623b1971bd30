#include "run/imageref.hpp"

#include <fcntl.h>

#include "images/store.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"

namespace pod::run {

std::string resolve_image(images::ImageStore& is, const std::string& ref, const FetchOptions& o) {
  if (ref.empty()) throw usage_error("empty image reference");
  if (ref.rfind("sha512-", 0) == 0) return is.resolve(ref);
  // Files and URLs go through fetch, which is O(1) for a file it has seen
  // unchanged (the store keeps a file-identity -> ID cache).
  // A registry image already stored is run as it is (podman's pull policy "missing"); `pod fetch` updates it.
  if (ref.rfind("docker://", 0) == 0) {
    try {
      return is.resolve(images::registry_image_ref(ref));
    } catch (const Error& e) {
      if (e.kind() != ErrorKind::NotFound) throw;
    }
    return is.fetch(ref, o);
  }
  for (const char* scheme : {"file://", "https://", "http://", "oci:", "oci-archive:", "docker-archive:"})
    if (ref.rfind(scheme, 0) == 0) return is.fetch(ref, o);
  if (stat_at(AT_FDCWD, ref)) return is.fetch(ref, o);
  try {
    return is.resolve(ref);
  } catch (const Error& e) {
    if (e.kind() != ErrorKind::NotFound) throw;
  }
  return is.fetch(ref, o);
}

}  // namespace pod::run
