// The public API's metadata service call (include/pod/pod.hpp).
#include "api/impl.hpp"
#include "mds/server.hpp"

namespace pod {

void Runtime::serve_metadata(const std::vector<std::string>& listen,
                             const std::function<void(const std::string&)>& listening) const {
  api::guarded([&] { mds::serve(impl_->store.path(), listen, listening); });
}

}  // namespace pod
