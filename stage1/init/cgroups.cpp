#include "cgroups.hpp"

#include <fcntl.h>
#include <linux/magic.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <cerrno>
#include <algorithm>
#include <cstdlib>
#include <optional>
#include <sstream>

#include "log.hpp"
#include "util/error.hpp"

namespace pod::init {

namespace {

constexpr const char* kV2Root = "/sys/fs/cgroup";

bool is_cgroup2(const std::string& path) {
  struct statfs s {};
  return ::statfs(path.c_str(), &s) == 0 && s.f_type == CGROUP2_SUPER_MAGIC;
}

bool has_word(const std::string& text, const std::string& word) {
  std::istringstream in(text);
  std::string w;
  while (in >> w)
    if (w == word) return true;
  return false;
}

// "oom_kill N" in memory.events (v2) or memory.oom_control (v1).
uint64_t oom_kill_count(const std::string& file) {
  std::istringstream in(try_read_file_at(AT_FDCWD, file, 65536).value_or(""));
  std::string key;
  uint64_t n = 0;
  while (in >> key >> n)
    if (key == "oom_kill") return n;
  return 0;
}

void make_dir(const std::string& dir) {
  if (::mkdir(dir.c_str(), 0755) < 0 && errno != EEXIST) throw_sys("cannot create cgroup " + dir);
}

UniqueFd open_procs(const std::string& dir) {
  UniqueFd fd(::open((dir + "/cgroup.procs").c_str(), O_WRONLY | O_CLOEXEC));
  if (!fd) throw_sys("cannot open " + dir + "/cgroup.procs");
  return fd;
}

}  // namespace

void write_control(const std::string& path, const std::string& value) {
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
  if (!fd) throw_sys("cannot open " + path);
  if (::write(fd.get(), value.data(), value.size()) != static_cast<ssize_t>(value.size()))
    throw_sys("cannot write " + value + " to " + path);
}

void join_app_cgroups(const std::string& app) {
  std::vector<std::string> dirs;
  if (const char* v1 = ::getenv(kCgroupV1Env); v1 && *v1)
    for (const char* c : {"memory", "cpu", "pids"}) dirs.push_back(std::string(v1) + "/" + c + "/app-" + app);
  if (is_cgroup2(kV2Root)) dirs.push_back(std::string(kV2Root) + "/app-" + app);
  for (const auto& dir : dirs)
    if (::access(dir.c_str(), F_OK) == 0) write_control(dir + "/cgroup.procs", "0");
}

void AppCgroup::join() const {
  for (const auto& fd : procs_)
    if (::write(fd.get(), "0", 1) != 1) throw_sys("cannot join the app's cgroup");
}

bool AppCgroup::oom_killed() const {
  auto m = dirs_.find("memory");
  if (m == dirs_.end()) return false;
  return oom_kill_count(m->second.dir + (m->second.v2 ? "/memory.events" : "/memory.oom_control")) > 0;
}

void PodCgroups::delegate_v2() {
  if (v2_delegated_) return;
  // No internal processes in v2: the init moves to a leaf of its own before
  // the controllers are enabled for the apps' cgroups.
  const std::string leaf = std::string(kV2Root) + "/pod-init";
  make_dir(leaf);
  write_control(leaf + "/cgroup.procs", "0");
  const std::string avail = try_read_file_at(AT_FDCWD, std::string(kV2Root) + "/cgroup.controllers").value_or("");
  for (const char* c : {"memory", "cpu", "pids"})
    if (has_word(avail, c)) write_control(std::string(kV2Root) + "/cgroup.subtree_control", std::string("+") + c);
  v2_delegated_ = true;
}

CgroupDir PodCgroups::where(const std::string& controller, const App& app, const char* isolator) {
  if (const char* v1 = ::getenv(kCgroupV1Env); v1 && *v1) {
    const std::string dir = std::string(v1) + "/" + controller;
    if (::access((dir + "/cgroup.procs").c_str(), W_OK) == 0) return {dir, false};
  }
  if (!is_cgroup2(kV2Root)) {
    // A VM guest: nobody mounted the cgroup file system yet.
    ::mkdir(kV2Root, 0755);
    if (::mount("cgroup2", kV2Root, "cgroup2", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr) < 0)
      throw Error("app " + app.name + ": isolator " + isolator + " cannot be enforced: no " + controller +
                  " cgroup controller (cannot mount cgroup2: " + std::strerror(errno) + ")");
  }
  const std::string avail = try_read_file_at(AT_FDCWD, std::string(kV2Root) + "/cgroup.controllers").value_or("");
  if (!has_word(avail, controller))
    throw Error("app " + app.name + ": isolator " + isolator + " cannot be enforced: the pod has no " + controller +
                " cgroup controller (neither v1 from the stage1 nor v2 at " + kV2Root + ")");
  delegate_v2();
  return {kV2Root, true};
}

namespace {

std::optional<uint64_t> read_number(const std::string& file) {
  auto text = try_read_file_at(AT_FDCWD, file, 64);
  if (!text) return std::nullopt;
  try {
    return std::stoull(*text);
  } catch (const std::exception&) {  // "max", "-1": no limit
    return std::nullopt;
  }
}

// The limits of `iso` in the app's cgroup dirs; with `reset`, a limit `iso` does
// not have is set back to none (an update). v1 keeps memsw >= limit at every
// step, so a raised limit goes to memsw first.
void write_memory(const CgroupDir& d, const isolators::Isolators& iso, bool reset) {
  const std::string swap = d.dir + (d.v2 ? "/memory.swap.max" : "/memory.memsw.limit_in_bytes");
  const bool has_swap = ::access(swap.c_str(), F_OK) == 0;
  if (iso.memory_limit || reset) {
    const std::string limit = iso.memory_limit ? std::to_string(*iso.memory_limit) : (d.v2 ? "max" : "-1");
    const std::string limit_file = d.dir + (d.v2 ? "/memory.max" : "/memory.limit_in_bytes");
    const auto now = read_number(limit_file);
    const bool raise = !iso.memory_limit || (now && *iso.memory_limit > *now);
    // No swap beyond the limit: the limit is what the app gets.
    if (has_swap && !d.v2 && raise) write_control(swap, limit);
    write_control(limit_file, limit);
    if (has_swap && (d.v2 || !raise)) write_control(swap, d.v2 ? (iso.memory_limit ? "0" : "max") : limit);
  }
  if (iso.memory_request || reset)
    write_control(d.dir + (d.v2 ? "/memory.low" : "/memory.soft_limit_in_bytes"),
                  iso.memory_request ? std::to_string(*iso.memory_request) : (d.v2 ? "0" : "-1"));
}

void write_cpu(const CgroupDir& d, const isolators::Isolators& iso, bool reset) {
  constexpr uint64_t kPeriodUs = 100000;
  if (iso.cpu_limit_milli || reset) {
    const std::string quota = iso.cpu_limit_milli
                                  ? std::to_string(std::max<uint64_t>(1000, *iso.cpu_limit_milli * kPeriodUs / 1000))
                                  : (d.v2 ? "max" : "-1");
    if (d.v2) {
      write_control(d.dir + "/cpu.max", quota + " " + std::to_string(kPeriodUs));
    } else {
      write_control(d.dir + "/cpu.cfs_period_us", std::to_string(kPeriodUs));
      write_control(d.dir + "/cpu.cfs_quota_us", quota);
    }
  }
  if (iso.cpu_shares) {
    // v2's weight from v1's shares, as runc converts them.
    const uint64_t weight = 1 + ((*iso.cpu_shares - 2) * 9999) / 262142;
    write_control(d.dir + (d.v2 ? "/cpu.weight" : "/cpu.shares"), std::to_string(d.v2 ? weight : *iso.cpu_shares));
  } else if (reset) {
    write_control(d.dir + (d.v2 ? "/cpu.weight" : "/cpu.shares"), d.v2 ? "100" : "1024");  // the kernel's defaults
  }
}

void write_pids(const CgroupDir& d, const isolators::Isolators& iso, bool reset) {
  if (iso.pids_limit || reset) write_control(d.dir + "/pids.max", iso.pids_limit ? std::to_string(*iso.pids_limit) : "max");
}

bool wants(const isolators::Isolators& iso, const std::string& controller) {
  if (controller == "memory") return iso.memory_limit || iso.memory_request;
  if (controller == "cpu") return iso.cpu_limit_milli || iso.cpu_shares;
  return iso.pids_limit.has_value();
}

}  // namespace

AppCgroup PodCgroups::create(const App& app) {
  AppCgroup cg;
  const auto& iso = app.iso;
  if (!iso.needs_cgroups()) return cg;
  const std::string name = "app-" + app.name;
  std::vector<std::string> joined;  // v2 has one hierarchy for all controllers
  for (const auto& [controller, isolator] : {std::pair<std::string, const char*>{"memory", "resource/memory"},
                                            {"cpu", iso.cpu_limit_milli ? "resource/cpu" : "os/linux/cpu-shares"},
                                            {"pids", "resource/pids"}}) {
    if (!wants(iso, controller)) continue;
    const CgroupDir w = where(controller, app, isolator);
    const std::string dir = w.dir + "/" + name;
    make_dir(dir);
    if (std::find(joined.begin(), joined.end(), dir) == joined.end()) {
      cg.procs_.push_back(open_procs(dir));
      joined.push_back(dir);
    }
    cg.dirs_[controller] = {dir, w.v2};
  }
  write_limits(cg, iso, false);
  log_debug("app " + app.name + ": cgroups " + std::to_string(joined.size()));
  return cg;
}

void PodCgroups::write_limits(const AppCgroup& cg, const isolators::Isolators& iso, bool reset) {
  for (const auto& [controller, dir] : cg.dirs_) {
    if (controller == "memory") write_memory(dir, iso, reset);
    else if (controller == "cpu") write_cpu(dir, iso, reset);
    else write_pids(dir, iso, reset);
  }
}

void PodCgroups::update(const App& app, const isolators::Isolators& next, const AppCgroup& cg) {
  for (const char* controller : {"memory", "cpu", "pids"})
    if (wants(next, controller) && !cg.dirs_.count(controller))
      throw Error("app " + app.name + " was started without a " + controller + " limit, so its processes have no " +
                  controller + " cgroup of their own to limit; stop and start it to give it one");
  write_limits(cg, next, true);
}

}  // namespace pod::init
