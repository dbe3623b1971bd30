// The data directory and its pod state directories.
//
//   $D/pods/embryo/<uuid>          new pods, locked by their creator
//   $D/pods/prepare/<uuid>         being prepared (locked) or aborted (unlocked)
//   $D/pods/prepared/<uuid>        ready for run-prepared
//   $D/pods/run/<uuid>             running (locked by stage1) or exited (unlocked)
//   $D/pods/exited-garbage/<uuid>  exited, marked by gc/rm; status still works
//   $D/pods/garbage/<uuid>         to be deleted (never ran, or already torn down)
//   $D/locks/                      store-wide lock files (gc)
//   $D/tmp/                        scratch space
// See Documentation/pod-lifecycle.md.
#pragma once
#include <array>
#include <string>

#include "util/fd.hpp"

namespace pod {

enum class PodDir { Embryo = 0, Prepare, Prepared, Run, ExitedGarbage, Garbage };
inline constexpr std::array<PodDir, 6> kAllPodDirs = {PodDir::Embryo, PodDir::Prepare, PodDir::Prepared,
                                                      PodDir::Run, PodDir::ExitedGarbage, PodDir::Garbage};
const char* pod_dir_name(PodDir d);

// Where the data dir is: --dir, else $POD_DIR, else the built-in default.
std::string resolve_data_dir(const std::string& flag_value);

class Store {
 public:
  // Opens (creating when missing) the data dir and its layout. `read_only`
  // callers (list, status, logs) only read: they work on a read-only data
  // dir whose layout exists, and skip the "is it writable" check.
  static Store open(const std::string& path, bool read_only = false);

  const std::string& path() const { return path_; }
  int root_fd() const { return root_.get(); }
  int dir_fd(PodDir d) const { return dirs_[static_cast<size_t>(d)].get(); }
  int locks_fd() const { return locks_.get(); }
  int tmp_fd() const { return tmp_.get(); }
  // Absolute path of a pod dir in the given state dir.
  std::string pod_path(PodDir d, const std::string& uuid) const;

 private:
  Store() = default;
  std::string path_;
  UniqueFd root_, locks_, tmp_;
  std::array<UniqueFd, 6> dirs_;
};

}  // namespace pod
