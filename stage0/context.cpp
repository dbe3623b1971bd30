#include "context.hpp"

#include <iostream>

#include "pods/walk.hpp"
#include "util/error.hpp"

namespace pod::cli {

const Store& Context::store() {
  if (!store_) store_.emplace(Store::open(resolve_data_dir(dir_flag)));
  return *store_;
}

PodTeardown Context::teardown() { return nullptr; }

void Context::debug_log(const std::string& msg) const {
  if (debug) std::cerr << "pod: debug: " << msg << "\n";
}

Pod pod_from_args(const Store& store, const std::string& uuid_arg, const std::string& uuid_file) {
  if (!uuid_arg.empty() && !uuid_file.empty()) throw usage_error("give either a UUID or --uuid-file, not both");
  if (!uuid_file.empty()) return lookup_pod(store, read_uuid_file(uuid_file));
  if (uuid_arg.empty()) throw usage_error("a pod UUID (or --uuid-file) is required; UUID cannot be empty");
  return lookup_pod(store, uuid_arg);
}

}  // namespace pod::cli
