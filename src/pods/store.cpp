#include "pods/store.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "config.h"
#include "rootless/userns.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"

namespace pod {

const char* pod_dir_name(PodDir d) {
  switch (d) {
    case PodDir::Embryo: return "embryo";
    case PodDir::Prepare: return "prepare";
    case PodDir::Prepared: return "prepared";
    case PodDir::Run: return "run";
    case PodDir::ExitedGarbage: return "exited-garbage";
    case PodDir::Garbage: return "garbage";
  }
  return "?";
}

std::string resolve_data_dir(const std::string& flag_value) {
  if (!flag_value.empty()) return flag_value;
  if (const char* e = std::getenv("POD_DIR"); e && *e) return e;
  return rootless::active() ? rootless::default_data_dir() : POD_DEFAULT_DATA_DIR;
}

namespace {
void mkdir_p(const std::string& path, mode_t mode) {
  std::string cur;
  size_t i = 0;
  while (i <= path.size()) {
    size_t j = path.find('/', i);
    if (j == std::string::npos) j = path.size();
    cur = path.substr(0, j);
    if (!cur.empty() && ::mkdir(cur.c_str(), mode) < 0 && errno != EEXIST)
      throw_sys("cannot create data directory " + cur);
    i = j + 1;
  }
}

UniqueFd ensure_dir(int parent, const std::string& name, mode_t mode, const std::string& full) {
  if (::mkdirat(parent, name.c_str(), mode) < 0 && errno != EEXIST) throw_sys("cannot create " + full);
  return open_dir_at(parent, name);
}
}  // namespace

Store Store::open(const std::string& path, bool read_only) {
  if (path.empty()) throw usage_error("the data directory path is empty");
  Store s;
  // Resolve symlinks once so that paths we print and mount under are real.
  mkdir_p(path, rootless::active() ? 0700 : 0711);  // a user's store is theirs alone
  char* real = ::realpath(path.c_str(), nullptr);
  if (!real) throw_sys("cannot resolve data directory " + path);
  s.path_ = real;
  std::free(real);
  s.root_ = open_dir(s.path_);
  if (!read_only && ::faccessat(s.root_.get(), ".", W_OK, AT_EACCESS) < 0)
    throw Error("data directory " + s.path_ + " is not writable (" + std::string(strerror(errno)) +
                "); run as root or choose another with --dir", errno)
        .with_item(s.path_);
  try {
    UniqueFd pods = ensure_dir(s.root_.get(), "pods", 0711, s.path_ + "/pods");
    for (PodDir d : kAllPodDirs)
      s.dirs_[static_cast<size_t>(d)] = ensure_dir(pods.get(), pod_dir_name(d), 0750, s.path_ + "/pods/" + pod_dir_name(d));
    s.locks_ = ensure_dir(s.root_.get(), "locks", 0700, s.path_ + "/locks");
    s.tmp_ = ensure_dir(s.root_.get(), "tmp", 0700, s.path_ + "/tmp");
  } catch (const Error& e) {
    throw e.with_context("data directory " + s.path_ + " is not usable");
  }
  return s;
}

std::string Store::pod_path(PodDir d, const std::string& uuid) const {
  return path_ + "/pods/" + pod_dir_name(d) + "/" + uuid;
}

}  // namespace pod
