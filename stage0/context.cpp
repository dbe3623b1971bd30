#include "context.hpp"

#include <cstdlib>
#include <iostream>

#include "config/config.hpp"
#include "pods/store.hpp"
#include "pods/walk.hpp"
#include "util/error.hpp"

namespace pod::cli {

Runtime& Context::runtime(bool read_only) {
  if (!rt_) {
    rt_.emplace(Runtime::open(data_dir(), read_only));
    if (debug) rt_->set_debug_log([](const std::string& m) { std::cerr << "pod: debug: " << m << "\n"; });
    rt_->set_notice_log([](const std::string& m) { std::cerr << "pod: " << m << "\n"; });
  }
  return *rt_;
}

std::string Context::data_dir() const {
  if (!dir_flag.empty()) return dir_flag;
  if (const char* e = std::getenv("POD_DIR"); e && *e) return e;
  const config::Config c = config::load();  // vendor and system layers: the data dir is not known yet
  return c.paths.data_dir.empty() ? resolve_data_dir("") : c.paths.data_dir;
}

void Context::debug_log(const std::string& msg) const {
  if (debug) std::cerr << "pod: debug: " << msg << "\n";
}

std::string uuid_from_args(const std::string& uuid_arg, const std::string& uuid_file) {
  if (!uuid_arg.empty() && !uuid_file.empty()) throw usage_error("give either a UUID or --uuid-file, not both");
  if (!uuid_file.empty()) return read_uuid_file(uuid_file);
  if (uuid_arg.empty()) throw usage_error("a pod UUID (or --uuid-file) is required; UUID cannot be empty");
  return uuid_arg;
}

std::vector<std::string> uuids_from_args(const std::vector<std::string>& uuids, const std::string& uuid_file,
                                         const char* verb) {
  std::vector<std::string> out = uuids;
  if (!uuid_file.empty()) out.push_back(read_uuid_file(uuid_file));
  if (out.empty()) throw usage_error(std::string("pod ") + verb + " needs at least one UUID (or --uuid-file)");
  return out;
}

}  // namespace pod::cli
