// Turning an image argument (path, file://, https://, ID, name[:version])
// into an image ID in the store, fetching only when needed.
#pragma once
#include <string>

#include <pod/spec.hpp>

namespace pod::images {
class ImageStore;
}

namespace pod::run {

// IDs resolve in the store; files and URLs are fetched (O(1) for a file the
// store has seen unchanged); a name not in the store is discovered.
std::string resolve_image(images::ImageStore& is, const std::string& ref, const FetchOptions& o);

}  // namespace pod::run
