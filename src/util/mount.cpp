#include "util/mount.hpp"

#include <sys/mount.h>

#include <algorithm>
#include <cerrno>
#include <fstream>
#include <sstream>

#include "util/error.hpp"
#include "util/fd.hpp"
#include "util/fs.hpp"

namespace pod {

namespace {
std::string unescape(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size()) {
      const std::string oct = s.substr(i + 1, 3);
      if (oct.size() == 3 && std::all_of(oct.begin(), oct.end(), [](char c) { return c >= '0' && c <= '7'; })) {
        out += static_cast<char>(std::stoi(oct, nullptr, 8));
        i += 3;
        continue;
      }
    }
    out += s[i];
  }
  return out;
}

bool is_at_or_below(const std::string& p, const std::string& dir) {
  if (p == dir) return true;
  return p.size() > dir.size() && p.compare(0, dir.size(), dir) == 0 && p[dir.size()] == '/';
}
}  // namespace

std::vector<MountInfo> read_mountinfo(const std::string& file) {
  std::ifstream in(file);
  if (!in) throw Error("cannot read " + file);
  std::vector<MountInfo> out;
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream ls(line);
    MountInfo m;
    std::string major_minor, root, mp, opts, field;
    ls >> m.id >> m.parent >> major_minor >> root >> mp >> opts;
    while (ls >> field && field != "-") {
    }
    ls >> m.fstype >> m.source;
    m.mount_point = unescape(mp);
    out.push_back(std::move(m));
  }
  return out;
}

std::vector<std::string> mounts_below(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& m : read_mountinfo())
    if (is_at_or_below(m.mount_point, dir)) out.push_back(m.mount_point);
  // Deepest first: longer paths cannot be ancestors of shorter ones; among
  // duplicates (stacked mounts) order does not matter, we loop anyway.
  std::stable_sort(out.begin(), out.end(), [](const std::string& a, const std::string& b) {
    return a.size() > b.size();
  });
  return out;
}

namespace {
UnmountReport unmount_impl(const std::string& dir, bool detach) {
  UnmountReport rep;
  for (int round = 0; round < 64; ++round) {
    auto mps = mounts_below(dir);
    if (mps.empty()) return rep;
    bool progress = false, all_busy = true;
    for (const auto& mp : mps) {
      if (::umount2(mp.c_str(), UMOUNT_NOFOLLOW) == 0) {
        rep.unmounted.push_back(mp);
        progress = true;
        continue;
      }
      if (errno != EBUSY) all_busy = false;
      if (errno == EBUSY && detach && round >= 2) {
        if (::umount2(mp.c_str(), MNT_DETACH | UMOUNT_NOFOLLOW) == 0) {
          rep.detached.push_back(mp);
          progress = true;
        }
      }
      // EINVAL/ENOENT: already gone via a parent's propagation; next round re-reads.
    }
    // Without detaching, a round in which every mount is busy changes nothing;
    // give a process that is about to let go two more rounds, then report.
    if (!detach && !progress && all_busy && round >= 2) {
      rep.busy = mps;
      return rep;
    }
  }
  auto left = mounts_below(dir);
  if (!left.empty()) throw Error("cannot unmount " + left.front() + " (still mounted after retries)", EBUSY);
  return rep;
}
}  // namespace

UnmountReport unmount_below(const std::string& dir) { return unmount_impl(dir, true); }

UnmountReport try_unmount_below(const std::string& dir) { return unmount_impl(dir, false); }

bool is_mount_point(const std::string& path) {
  for (const auto& m : read_mountinfo())
    if (m.mount_point == path) return true;
  return false;
}

void make_private_mountpoint(const std::string& path) {
  if (path.empty() || path[0] != '/') throw Error("make_private_mountpoint: " + path + " is not absolute", EINVAL);
  // Mount by path, so the path must be the real one (no symlink swapped in).
  UniqueFd fd = open_dir(path);
  if (fd_path(fd.get()) != path) throw Error("refusing to mount on " + path + ": it is not a symlink-free path", EINVAL);
  if (!is_mount_point(path) && ::mount(path.c_str(), path.c_str(), nullptr, MS_BIND, nullptr) < 0)
    throw_sys("cannot bind-mount " + path + " onto itself");
  if (::mount(nullptr, path.c_str(), nullptr, MS_PRIVATE | MS_REC, nullptr) < 0)
    throw_sys("cannot make " + path + " a private mount");
}

}  // namespace pod
