#include "resources.hpp"

#include <fcntl.h>
#include <sys/stat.h>

#include <cerrno>
#include <set>
#include <sstream>

#include "common.hpp"
#include "isolators/isolators.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"

namespace pod::stage1 {

namespace {

constexpr const char* kControllers[] = {"memory", "cpu", "pids"};

// controller -> mount point of its v1 hierarchy (from /proc/self/mounts: the
// super options name the controllers).
std::vector<std::pair<std::string, std::string>> v1_mounts() {
  std::vector<std::pair<std::string, std::string>> out;
  std::istringstream in(try_read_file_at(AT_FDCWD, "/proc/self/mounts", 1 << 20).value_or(""));
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream f(line);
    std::string src, mnt, type, opts;
    if (!(f >> src >> mnt >> type >> opts) || type != "cgroup") continue;
    std::set<std::string> words;
    std::istringstream o(opts);
    for (std::string w; std::getline(o, w, ',');) words.insert(w);
    for (const char* c : kControllers)
      if (words.count(c)) out.emplace_back(c, mnt);
  }
  return out;
}

}  // namespace

std::vector<V1Cgroup> pod_v1_cgroups(const contract::PodManifest& m, const std::string& uuid) {
  std::set<std::string> need;
  for (const auto& app : m.apps) {
    const auto iso = isolators::parse(app.app.isolators, "app " + app.name);
    if (iso.memory_limit || iso.memory_request) need.insert("memory");
    if (iso.cpu_limit_milli || iso.cpu_shares) need.insert("cpu");
    if (iso.pids_limit) need.insert("pids");
  }
  std::vector<V1Cgroup> out;
  for (const auto& [c, mnt] : v1_mounts())
    if (need.count(c)) out.push_back({c, mnt + "/pod/pod-" + uuid});
  return out;
}

std::vector<std::string> all_v1_cgroup_dirs(const std::string& uuid) {
  std::set<std::string> out;
  for (const auto& [c, mnt] : v1_mounts()) out.insert(mnt + "/pod/pod-" + uuid);
  return {out.begin(), out.end()};
}

void join_v1_cgroups(const std::vector<V1Cgroup>& cgs) {
  for (const auto& cg : cgs) write_file_at(make_cgroup(cg.dir).get(), "cgroup.procs", "0\n", 0644, Durability::kVolatile);
}

void delegate_cgroup(int dir, uint32_t owner, const std::string& what) {
  for (const char* f : {".", "cgroup.procs", "cgroup.threads", "cgroup.subtree_control", "tasks"}) {
    if (::fchownat(dir, f, owner, owner, 0) == 0 || errno == ENOENT) continue;
    throw_sys("cannot delegate the pod's cgroup " + what + " (" + f + ") to its user namespace");
  }
}

void make_delegated_v1_cgroups(const std::vector<V1Cgroup>& cgs, uint32_t owner) {
  for (const auto& cg : cgs) delegate_cgroup(make_cgroup(cg.dir).get(), owner, cg.dir);
}

}  // namespace pod::stage1
