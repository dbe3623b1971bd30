// Runtime::fsck (Documentation/fsck.md): the image store first (what it
// quarantines is then missing for the pods that use it), then the pod store,
// then what pods left on the host.
#include "api/impl.hpp"
#include "images/internal.hpp"
#include "maintenance/fsck.hpp"
#include "util/fs.hpp"

namespace pod {

std::vector<FsckFinding> Runtime::fsck(bool repair) {
  return api::guarded([&] {
    std::vector<FsckFinding> out;
    auto sink = [&](fsck::Item it) {
      FsckFinding f{it.area, it.item, it.problem, it.action, static_cast<bool>(it.fix), false, ""};
      impl_->debug("fsck: " + f.item + ": " + f.problem);
      if (repair && it.fix) {
        try {
          it.fix();
          f.repaired = true;
        } catch (const Error& e) {
          f.repair_error = e.what();
        }
      }
      out.push_back(std::move(f));
    };
    const Store& store = impl_->store;
    std::optional<images::ImageStore> is = images::ImageStore::open_existing(store.path());
    if (is) is->fsck(repair, sink);
    UniqueFd trees = is ? try_open_dir_at(store.root_fd(), "images/trees") : UniqueFd();
    fsck::check_pods(
        store,
        [&](const std::string& t) {
          UniqueFd d = trees ? try_open_dir_at(trees.get(), t) : UniqueFd();
          return d && exists_at(d.get(), images::kTreeRendered);
        },
        sink);
    fsck::check_host(store, sink);
    return out;
  });
}

}  // namespace pod
