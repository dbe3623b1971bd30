// Mount table queries and a tear-down that does not get stuck.
#pragma once
#include <string>
#include <vector>

namespace pod {

struct MountInfo {
  int id = 0;
  int parent = 0;
  std::string mount_point;  // unescaped
  std::string fstype;
  std::string source;
};

// Parse /proc/self/mountinfo (octal escapes like \040 decoded).
std::vector<MountInfo> read_mountinfo(const std::string& file = "/proc/self/mountinfo");

// Mount points at or below `dir` (an absolute, symlink-free path), deepest first.
std::vector<std::string> mounts_below(const std::string& dir);

struct UnmountReport {
  std::vector<std::string> unmounted;
  std::vector<std::string> detached;  // needed MNT_DETACH (were busy)
};

// Unmount everything at or below `dir`, deepest first, repeating until no
// mount is left (stacked mounts). A busy mount is detached lazily as a last
// resort and reported. Throws only if something stays mounted.
UnmountReport unmount_below(const std::string& dir);

}  // namespace pod
