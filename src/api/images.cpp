// The public API's image calls over src/images.
#include "api/impl.hpp"

namespace pod {

namespace {
ImageSummary summary(const images::ImageInfo& i) {
  return ImageSummary{i.id, i.name, i.labels, i.import_time, i.last_used, i.size, i.source};
}
}  // namespace

std::string Runtime::fetch_image(const std::string& ref, const FetchOptions& opts) {
  return api::guarded([&] {
    images::ImageStore::FetchOptions o;
    o.insecure_image = opts.insecure_image;
    o.allow_devices = opts.allow_devices;
    o.quiet = opts.quiet;
    return impl_->images().fetch(ref, o);
  });
}

std::vector<ImageSummary> Runtime::list_images() const {
  return api::guarded([&] {
    std::vector<ImageSummary> out;
    for (const auto& i : impl_->images().list()) out.push_back(summary(i));
    return out;
  });
}

ImageSummary Runtime::image_status(const std::string& ref) const {
  return api::guarded([&] {
    auto& is = impl_->images();
    return summary(is.info(is.resolve(ref)));
  });
}

std::string Runtime::image_manifest(const std::string& ref) const {
  return api::guarded([&] {
    auto& is = impl_->images();
    return is.manifest(is.resolve(ref)).dump(2) + "\n";
  });
}

std::pair<std::string, std::vector<std::string>> Runtime::remove_image(const std::string& ref) {
  return api::guarded([&] {
    auto& is = impl_->images();
    std::string id = is.resolve(ref);
    auto r = is.remove(id);
    return std::make_pair(id, r.trees_kept);
  });
}

}  // namespace pod
