// `pod fsck`: what pods leave on the host after their pod is gone (Documentation/fsck.md):
// mounts below the data dir (bind-mounted network namespaces among them) that no pod of this
// data dir owns, and empty pod cgroups (named pod-<uuid> by the stage1s, stage1-abi.md) whose
// pod is not in this data dir.
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <set>
#include <sstream>

#include "maintenance/fsck.hpp"
#include "pods/pod.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"
#include "util/lock.hpp"
#include "util/mount.hpp"
#include "util/time.hpp"
#include "util/uuid.hpp"

namespace pod::fsck {

bool stale_temp_name(const std::string& name) {
  // ".<name>.tmp-<pid>-<n>" (write_file_atomic_at)
  const size_t t = name.rfind(".tmp-");
  if (name.empty() || name[0] != '.' || t == std::string::npos) return false;
  const std::string rest = name.substr(t + 5);
  const size_t dash = rest.find('-');
  if (dash == std::string::npos || dash == 0 || dash > 10 || rest.find_first_not_of("0123456789-") != std::string::npos)
    return false;
  const long long pid = std::stoll(rest.substr(0, dash));  // at most 10 digits: no overflow
  if (pid <= 0 || pid > INT32_MAX) return true;             // no process has it
  return ::kill(static_cast<pid_t>(pid), 0) < 0 && errno == ESRCH;
}

namespace {

// A cgroup unchanged for this long is not one a stage1 is setting up right now.
constexpr auto kCgroupQuiet = std::chrono::minutes(10);

// The first path component that is a pod UUID ("" when none).
std::string owner_uuid(const std::string& rel) {
  std::istringstream in(rel);
  for (std::string c; std::getline(in, c, '/');)
    if (is_canonical_uuid(c)) return c;
  return "";
}

bool pod_exists(const Store& store, const std::string& uuid) {
  return !uuid.empty() && Pod::try_open(store, uuid).has_value();
}

void check_mounts(const Store& store, const Sink& found) {
  const std::string data = store.path();
  std::vector<MountInfo> below;
  for (auto& m : read_mountinfo())
    if (m.mount_point.size() > data.size() + 1 && m.mount_point.compare(0, data.size() + 1, data + "/") == 0)
      below.push_back(std::move(m));
  std::sort(below.begin(), below.end(), [](const auto& a, const auto& b) { return a.mount_point > b.mount_point; });
  for (const auto& m : below) {
    const std::string rel = m.mount_point.substr(data.size() + 1);
    if (pod_exists(store, owner_uuid(rel))) continue;  // a live pod's, or gc's to tear down with its pod
    const bool netns = m.fstype == "nsfs";
    found({"host", rel,
           std::string(netns ? "a bind-mounted network namespace" : "a " + m.fstype + " mount") +
               " that belongs to no pod of this data dir",
           netns ? "unmount it and remove the file" : "unmount it (not lazily: a busy mount stays)",
           [mp = m.mount_point, netns] {
             if (::umount2(mp.c_str(), UMOUNT_NOFOLLOW) < 0 && errno != EINVAL) throw_sys("cannot unmount " + mp);
             struct stat st {};
             if (netns && !is_mount_point(mp) && ::lstat(mp.c_str(), &st) == 0 && S_ISREG(st.st_mode) && st.st_size == 0)
               ::unlink(mp.c_str());
           }});
  }
}

// Pid count of a cgroup and its descendants.
bool cgroup_has_procs(const std::string& dir) {
  if (auto p = try_read_file_at(AT_FDCWD, dir + "/cgroup.procs"); p && !p->empty()) return true;
  UniqueFd d = try_open_dir_at(AT_FDCWD, dir);
  if (!d) return false;
  for (const auto& n : list_dir(d.get())) {
    auto st = stat_at(d.get(), n);
    if (st && S_ISDIR(st->st_mode) && cgroup_has_procs(dir + "/" + n)) return true;
  }
  return false;
}

void remove_cgroup(const std::string& dir) {
  UniqueFd d = try_open_dir_at(AT_FDCWD, dir);
  if (!d) return;
  for (const auto& n : list_dir(d.get())) {
    auto st = stat_at(d.get(), n);
    if (st && S_ISDIR(st->st_mode)) remove_cgroup(dir + "/" + n);
  }
  d.reset();
  if (::rmdir(dir.c_str()) < 0 && errno != ENOENT) throw_sys("cannot remove cgroup " + dir);
}

void find_pod_cgroups(const std::string& dir, int depth, std::vector<std::pair<std::string, std::string>>& out) {
  UniqueFd d = try_open_dir_at(AT_FDCWD, dir);
  if (!d) return;
  for (const auto& n : list_dir(d.get())) {
    auto st = stat_at(d.get(), n);
    if (!st || !S_ISDIR(st->st_mode)) continue;
    if (n.size() == 40 && n.rfind("pod-", 0) == 0 && is_canonical_uuid(n.substr(4)))
      out.emplace_back(dir + "/" + n, n.substr(4));
    else if (depth > 1)
      find_pod_cgroups(dir + "/" + n, depth - 1, out);
  }
}

void check_cgroups(const Store& store, const Sink& found) {
  std::set<std::string> roots;
  for (const auto& m : read_mountinfo())
    if ((m.fstype == "cgroup2" || m.fstype == "cgroup") && m.mount_point.rfind("/sys/fs/cgroup", 0) == 0)
      roots.insert(m.mount_point);
  std::vector<std::pair<std::string, std::string>> cgs;
  // pod/pod-<uuid>, or beneath a service unit's cgroup (system.slice/system-pod.slice/pod@x.service/pod-<uuid>).
  for (const auto& r : roots) find_pod_cgroups(r, 6, cgs);
  const auto now = Clock::now();
  for (const auto& [dir, uuid] : cgs) {
    struct stat st {};
    if (::stat(dir.c_str(), &st) < 0) continue;
    const auto mtime = Clock::time_point(std::chrono::duration_cast<Clock::duration>(
        std::chrono::seconds(st.st_mtim.tv_sec) + std::chrono::nanoseconds(st.st_mtim.tv_nsec)));
    if (now - mtime < kCgroupQuiet || pod_exists(store, uuid) || cgroup_has_procs(dir)) continue;
    found({"host", dir, "an empty pod cgroup whose pod is not in this data dir (its stage1 gc did not run)",
           "remove it", [dir = dir] { remove_cgroup(dir); }});
  }
}

}  // namespace

void check_host(const Store& store, const Sink& found) {
  check_mounts(store, found);
  check_cgroups(store, found);
}

}  // namespace pod::fsck
