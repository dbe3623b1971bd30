#include "context.hpp"

#include <iostream>

#include "pods/walk.hpp"
#include "stage1abi/stage1.hpp"
#include "util/fs.hpp"
#include "util/error.hpp"

namespace pod::cli {

const Store& Context::store() {
  if (!store_) store_.emplace(Store::open(resolve_data_dir(dir_flag)));
  return *store_;
}

PodTeardown Context::teardown() {
  const bool dbg = debug;
  return [dbg](Pod& p) {
    if (!exists_at(p.fd(), "stage1/manifest")) return;  // never got a stage1: nothing to tear down
    auto eps = stage1::pod_entrypoints(p);
    if (eps.gc.empty()) return;
    std::vector<std::string> args;
    if (dbg) args.push_back("--debug");
    args.push_back(p.uuid());
    int st = stage1::call(p, eps.gc, args, /*quiet_stdout=*/true);
    if (st != 0) throw Error("stage1 gc entrypoint exited with status " + std::to_string(st));
  };
}

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
