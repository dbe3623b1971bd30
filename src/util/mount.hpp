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
  std::vector<std::string> busy;      // try_unmount_below: left mounted (EBUSY)
};

// Unmount everything at or below `dir`, deepest first, repeating until no
// mount is left (stacked mounts). A busy mount is detached lazily as a last
// resort and reported. Throws only if something stays mounted.
UnmountReport unmount_below(const std::string& dir);

// Like unmount_below but never detaches: mounts that stay busy (a process
// has a file open or its cwd below them) are left in place and listed in
// `busy`, deepest first. Throws only if something else keeps a mount.
UnmountReport try_unmount_below(const std::string& dir);

// Is `path` (absolute, symlink-free) a mount point in our namespace?
bool is_mount_point(const std::string& path);

// Make `path` a mount point of its own with private propagation: bind-mount
// it onto itself (unless it is a mount point already) and set MS_PRIVATE, so
// that mounts made below it later do not propagate to peer mounts elsewhere
// (the host's shared `/` and every namespace that is its peer or slave).
// The bind itself still propagates once when the parent is shared; nothing
// below it does.
//
// Not for the pod dir itself: rename(2) of a mount point fails with EBUSY,
// and pods move between state dirs by rename. Use it on $P/stage1 before
// mounting below a pod in the host's namespace (`pod run` mounts its
// overlays in a namespace of its own and does not need it); gc's
// unmount_below($P) removes it together with what is below.
void make_private_mountpoint(const std::string& path);

}  // namespace pod
