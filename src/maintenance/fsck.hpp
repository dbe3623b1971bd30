// `pod fsck` (Documentation/fsck.md): the checks of the image store
// (images/fsck.cpp), of the pod store (pods/fsck.cpp) and of what pods leave
// on the host (maintenance/host.cpp) report their findings through one sink;
// api/fsck.cpp runs them and, with --repair, each finding's fix.
#pragma once
#include <functional>
#include <string>
#include <vector>

namespace pod {
class Store;
}

namespace pod::fsck {

struct Item {
  std::string area;     // "images", "pods" or "host"
  std::string item;     // what it is about: a path relative to the data dir, or a host path
  std::string problem;  // what is wrong
  std::string action;   // what --repair does; without a fix, why nothing is done
  std::function<void()> fix;  // null: nothing can be done without losing a live pod or a referenced image
};
using Sink = std::function<void(Item)>;

// A temp file of write_file_atomic_at (".<name>.tmp-<pid>-<n>") whose writer is no longer alive.
bool stale_temp_name(const std::string& name);

// Mounts below the data dir and pod cgroups whose pod is gone (maintenance/host.cpp).
void check_host(const Store& store, const Sink& found);

// The pod store (pods/fsck.cpp); every fix takes the pod lock. tree_sealed: whether the image store
// holds that tree, sealed.
void check_pods(const Store& store, const std::function<bool(const std::string&)>& tree_sealed, const Sink& found);

}  // namespace pod::fsck
