#include "cgroupplaces.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <utility>

#include "systemd/sd.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"

namespace pod::stage1 {

namespace {

constexpr const char* kRoot = "/sys/fs/cgroup";
constexpr const char* kSupervisor = "supervisor";

std::string default_dir(const std::string& mount_point, const std::string& uuid) {
  return mount_point + "/pod/pod-" + uuid;
}

std::set<std::string> split(const std::string& s, char sep) {
  std::set<std::string> out;
  std::istringstream in(s);
  for (std::string w; std::getline(in, w, sep);)
    if (!w.empty()) out.insert(w);
  return out;
}

// The hierarchy a /proc/self/cgroup line names: "0::<path>" is cgroup2, "<id>:<controllers>:<path>" v1.
bool line_names(const CgroupMount& m, const std::string& id, const std::string& controllers) {
  if (id == "0" && controllers.empty()) return m.v2;
  if (m.v2 || controllers.empty()) return false;
  for (const auto& c : split(controllers, ','))
    if (!m.options.count(c)) return false;
  return true;
}

// One record per process: the entrypoints deal with one pod.
std::optional<std::pair<std::string, std::map<std::string, std::string>>> g_record;

std::map<std::string, std::string> parse_record(const std::string& text, const std::string& uuid) {
  const std::string what = std::string("$P/") + kCgroupRecord;
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    throw Error(what + " is not JSON: " + e.what());
  }
  if (!j.is_object() || !j.contains("cgroups") || !j["cgroups"].is_object())
    throw Error(what + ": expected an object with \"cgroups\": {mount point: dir}");
  std::map<std::string, std::string> out;
  for (const auto& [mount, dir] : j["cgroups"].items()) {
    // Never anything but a pod-<uuid> of this pod below its hierarchy: gc kills what is in it.
    const std::string leaf = "/pod-" + uuid;
    if (!dir.is_string() || dir.get<std::string>().rfind(mount + "/", 0) != 0 ||
        dir.get<std::string>().size() < leaf.size() ||
        dir.get<std::string>().compare(dir.get<std::string>().size() - leaf.size(), leaf.size(), leaf) != 0 ||
        dir.get<std::string>().find("/../") != std::string::npos)
      throw Error(what + ": \"" + mount + "\" must name a dir " + mount + "/…" + leaf);
    out[mount] = dir.get<std::string>();
  }
  return out;
}

void write_control(const std::string& path, const std::string& value) {
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
  if (!fd || ::write(fd.get(), value.data(), value.size()) != static_cast<ssize_t>(value.size()))
    throw_sys("cannot write " + value + " to " + path);
}

}  // namespace

std::vector<CgroupMount> parse_cgroup_mounts(const std::string& proc_mounts) {
  std::vector<CgroupMount> out;
  std::set<std::string> seen;
  std::istringstream in(proc_mounts);
  for (std::string line; std::getline(in, line);) {
    std::istringstream f(line);
    std::string src, mnt, type, opts;
    if (!(f >> src >> mnt >> type >> opts) || (type != "cgroup" && type != "cgroup2")) continue;
    if (mnt.rfind(kRoot, 0) != 0 || !seen.insert(mnt).second) continue;
    out.push_back({mnt, type == "cgroup2", split(opts, ',')});
  }
  return out;
}

std::vector<CgroupMount> cgroup_mounts() {
  return parse_cgroup_mounts(try_read_file_at(AT_FDCWD, "/proc/self/mounts", 1 << 20).value_or(""));
}

CgroupPlan plan_pod_cgroups(const std::string& uuid, const std::string& unit, const std::vector<CgroupMount>& mounts,
                            const std::string& proc_self_cgroup) {
  CgroupPlan plan;
  std::vector<std::string> v2_units;
  for (const auto& m : mounts) plan.dirs[m.mount_point] = default_dir(m.mount_point, uuid);
  std::istringstream in(unit.empty() ? "" : proc_self_cgroup);
  for (std::string line; std::getline(in, line);) {
    const size_t a = line.find(':'), b = a == std::string::npos ? a : line.find(':', a + 1);
    if (b == std::string::npos) continue;
    const std::string id = line.substr(0, a), controllers = line.substr(a + 1, b - a - 1), path = line.substr(b + 1);
    if (path.size() <= unit.size() || path.compare(path.size() - unit.size() - 1, std::string::npos, "/" + unit) != 0)
      continue;  // not in the unit's cgroup in this hierarchy (a v1 controller systemd does not manage for it)
    for (const auto& m : mounts) {
      if (!line_names(m, id, controllers)) continue;
      plan.dirs[m.mount_point] = m.mount_point + path + "/pod-" + uuid;
      (m.v2 ? v2_units : plan.unit_cgroups).push_back(m.mount_point + path);
    }
  }
  for (auto& d : v2_units) plan.unit_cgroups.push_back(std::move(d));
  return plan;
}

void place_pod_cgroups(const std::string& uuid) {
  const std::string unit = sd::own_service_unit();
  const CgroupPlan plan = plan_pod_cgroups(uuid, unit, cgroup_mounts(),
                                           unit.empty() ? "" : read_file("/proc/self/cgroup"));
  nlohmann::json j;
  j["cgroups"] = plan.dirs;
  if (!unit.empty()) j["unit"] = unit;
  // First the record: a kill -9 after it leaves at most cgroups gc finds by it.
  write_file_atomic_at(AT_FDCWD, kCgroupRecord, j.dump(2) + "\n", 0644, Durability::kVolatile);
  g_record.emplace(uuid, plan.dirs);
  for (const auto& cg : plan.unit_cgroups) {
    const std::string leaf = cg + "/" + kSupervisor;
    if (::mkdir(leaf.c_str(), 0755) < 0 && errno != EEXIST) throw_sys("cannot create cgroup " + leaf);
    write_control(leaf + "/cgroup.procs", "0");
    // The unit's cgroup is empty now (cgroup2: no internal processes): hand its controllers on to
    // the pod. One systemd did not delegate is not there; a limit that needs it is refused by the
    // init (isolation.md), so a controller that cannot be enabled is not an error here.
    std::string controllers = try_read_file_at(AT_FDCWD, cg + "/cgroup.controllers").value_or("");
    for (char& ch : controllers)
      if (ch == '\n') ch = ' ';
    const std::set<std::string> avail = split(controllers, ' ');
    for (const char* c : {"memory", "cpu", "pids"}) {
      if (!avail.count(c)) continue;
      try {
        write_control(cg + "/cgroup.subtree_control", std::string("+") + c);
      } catch (const Error&) {
        // Only this write: what the pod gets without the controller is the init's to refuse.
      }
    }
  }
}

std::string pod_cgroup_in(const std::string& mount_point, const std::string& uuid) {
  if (!g_record || g_record->first != uuid) {
    auto text = try_read_file_at(AT_FDCWD, kCgroupRecord, 1 << 16);
    g_record.emplace(uuid, text ? parse_record(*text, uuid) : std::map<std::string, std::string>{});
  }
  auto it = g_record->second.find(mount_point);
  return it != g_record->second.end() ? it->second : default_dir(mount_point, uuid);
}

}  // namespace pod::stage1
