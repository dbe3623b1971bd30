// The public API's image calls over src/images.
#include "api/impl.hpp"
#include "images/build.hpp"

namespace pod {

namespace {
ImageSummary summary(const images::ImageInfo& i) {
  return ImageSummary{i.id, i.name, i.labels, i.import_time, i.last_used, i.size, i.source, i.refs, i.manifest_digest};
}
}  // namespace

std::string Runtime::fetch_image(const std::string& ref, const FetchOptions& opts) {
  return api::guarded([&] {
    return impl_->images().fetch(ref, opts);
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

std::string Runtime::image_manifest(const std::string& ref, bool pretty) const {
  return api::guarded([&] {
    auto& is = impl_->images();
    auto m = is.manifest(is.resolve(ref));
    return (pretty ? m.dump(2) : m.dump()) + "\n";
  });
}

std::vector<SpecialFile> Runtime::image_setuid_files(const std::string& ref) const {
  return api::guarded([&] {
    auto& is = impl_->images();
    std::vector<SpecialFile> out;
    for (const auto& f : is.setuid_files(is.resolve(ref))) out.push_back({f.path, f.mode});
    return out;
  });
}

void Runtime::export_image(const std::string& ref, const std::string& file, bool overwrite) const {
  api::guarded([&] {
    auto& is = impl_->images();
    is.export_image(is.resolve(ref), file, overwrite);
  });
}

void Runtime::extract_image(const std::string& ref, const std::string& dir, bool render, bool rootfs_only,
                            bool overwrite) {
  api::guarded([&] {
    auto& is = impl_->images();
    const std::string id = is.resolve(ref);
    if (render) is.render_to(id, dir, rootfs_only, overwrite);
    else is.extract(id, dir, rootfs_only, overwrite);
  });
}

ImageGcReport Runtime::gc_images(std::chrono::milliseconds grace) {
  return api::guarded([&] {
    auto r = impl_->images().gc(grace);
    return ImageGcReport{r.temp_removed, r.trees_removed, r.images_removed};
  });
}

VerifyReport Runtime::verify_images(const std::vector<std::string>& refs) {
  return api::guarded([&] {
    auto& is = impl_->images();
    std::vector<std::string> ids;
    for (const auto& ref : refs) ids.push_back(is.resolve(ref));
    auto r = is.verify(ids);
    return VerifyReport{r.ok, r.bad, is.path() + "/quarantine"};
  });
}

std::string Runtime::build_image(const std::string& dir, const std::string& out, std::optional<int64_t> mtime,
                                 bool overwrite) {
  return api::guarded([&] {
    images::BuildOptions o;
    o.overwrite = overwrite;
    o.mtime = mtime;
    return images::build_aci(dir, out, o);
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
