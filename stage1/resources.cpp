#include "resources.hpp"

#include <fcntl.h>
#include <sys/stat.h>

#include <cerrno>
#include <set>

#include "cgroupplaces.hpp"
#include "common.hpp"
#include "contract/apporder.hpp"
#include "isolators/isolators.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"

namespace pod::stage1 {

namespace {

constexpr const char* kControllers[] = {"memory", "cpu", "pids"};

// controller -> mount point of its v1 hierarchy.
std::vector<std::pair<std::string, std::string>> v1_mounts() {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& m : cgroup_mounts())
    for (const char* c : kControllers)
      if (!m.v2 && m.options.count(c)) out.emplace_back(c, m.mount_point);
  return out;
}

}  // namespace

std::vector<V1Cgroup> pod_v1_cgroups(const contract::PodManifest& m, const std::string& uuid) {
  std::set<std::string> need;
  // A sandbox's apps come later (pod app add, CRI containers), limits and all: every controller, from the start.
  if (contract::is_sandbox(m)) need = {std::begin(kControllers), std::end(kControllers)};
  for (const auto& app : m.apps) {
    const auto iso = isolators::parse(app.app.isolators, "app " + app.name);
    if (iso.memory_limit || iso.memory_request) need.insert("memory");
    if (iso.cpu_limit_milli || iso.cpu_shares) need.insert("cpu");
    if (iso.pids_limit) need.insert("pids");
  }
  std::vector<V1Cgroup> out;
  for (const auto& [c, mnt] : v1_mounts())
    if (need.count(c)) out.push_back({c, pod_cgroup_in(mnt, uuid)});
  return out;
}

std::vector<std::string> all_v1_cgroup_dirs(const std::string& uuid) {
  std::set<std::string> out;
  for (const auto& [c, mnt] : v1_mounts()) out.insert(pod_cgroup_in(mnt, uuid));
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
