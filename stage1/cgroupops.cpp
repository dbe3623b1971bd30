#include "cgroupops.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cstdlib>
#include <functional>
#include <sstream>

#include "cgroupplaces.hpp"
#include "common.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"
#include "util/mount.hpp"

namespace pod::stage1 {

namespace {

std::optional<std::string> read_cg(const std::string& dir, const std::string& file) {
  auto s = try_read_file_at(AT_FDCWD, dir + "/" + file, 1 << 20);
  if (s)
    while (!s->empty() && (s->back() == '\n' || s->back() == ' ')) s->pop_back();
  return s;
}

void write_cg(const std::string& dir, const std::string& file, const std::string& value) {
  UniqueFd fd(::open((dir + "/" + file).c_str(), O_WRONLY | O_CLOEXEC));
  if (!fd || ::write(fd.get(), value.data(), value.size()) < 0) throw_sys("cannot write " + dir + "/" + file);
}

// "key value" lines (cgroup.events, cpu.stat, memory.stat).
std::optional<uint64_t> keyed(const std::string& text, const std::string& key) {
  std::istringstream in(text);
  std::string k;
  uint64_t v;
  while (in >> k >> v)
    if (k == key) return v;
  return std::nullopt;
}

std::optional<uint64_t> number(const std::optional<std::string>& s) {
  if (!s || s->empty()) return std::nullopt;
  char* end;
  unsigned long long v = std::strtoull(s->c_str(), &end, 10);
  if (*end) return std::nullopt;
  return v;
}

bool is_dir(const std::string& p) {
  struct stat st;
  return ::stat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

struct PodCgroups {
  std::string v2;                       // the pod's cgroup2 dir, if it has one
  std::map<std::string, std::string> v1;  // controller -> the pod's dir in that v1 hierarchy
};

PodCgroups find(const std::string& uuid) {
  PodCgroups c;
  for (const auto& m : read_mountinfo()) {
    if (m.mount_point.rfind("/sys/fs/cgroup", 0) != 0) continue;
    const std::string dir = pod_cgroup_in(m.mount_point, uuid);
    if (!is_dir(dir)) continue;
    if (m.fstype == "cgroup2") c.v2 = dir;
    else if (m.fstype == "cgroup")
      for (const char* ctl : {"freezer", "cpuacct", "memory", "pids"})
        if (is_v1_hierarchy_of(m.mount_point, ctl)) c.v1[ctl] = dir;
  }
  return c;
}

void wait_for(const std::function<bool()>& done, int timeout_ms, const std::string& what) {
  for (int waited = 0; !done(); waited += 5) {
    if (waited >= timeout_ms) throw Error(what + " did not finish in " + std::to_string(timeout_ms) + " ms", ETIMEDOUT);
    struct timespec ts {0, 5000000};
    ::nanosleep(&ts, nullptr);
  }
}

// Usage of one cgroup, from its cgroup2 dir and/or v1 dirs of the same path.
nlohmann::json usage(const std::string& v2, const std::map<std::string, std::string>& v1) {
  nlohmann::json u = nlohmann::json::object();
  if (!v2.empty()) {
    if (auto us = keyed(read_cg(v2, "cpu.stat").value_or(""), "usage_usec")) u["cpuNs"] = *us * 1000;
    if (auto m = number(read_cg(v2, "memory.current"))) u["memoryBytes"] = *m;
    if (auto p = number(read_cg(v2, "pids.current"))) u["pids"] = *p;
  }
  if (!u.contains("cpuNs") && v1.count("cpuacct"))
    if (auto n = number(read_cg(v1.at("cpuacct"), "cpuacct.usage"))) u["cpuNs"] = *n;
  if (!u.contains("memoryBytes") && v1.count("memory"))
    if (auto m = number(read_cg(v1.at("memory"), "memory.usage_in_bytes"))) u["memoryBytes"] = *m;
  if (!u.contains("pids") && v1.count("pids"))
    if (auto p = number(read_cg(v1.at("pids"), "pids.current"))) u["pids"] = *p;
  return u;
}

// A dir below `root` named `name` (depth first), "" when there is none.
std::string find_below(const std::string& root, const std::string& name) {
  UniqueFd d = try_open_dir_at(AT_FDCWD, root);
  if (!d) return "";
  for (const auto& n : list_dir(d.get())) {
    const std::string sub = root + "/" + n;
    if (!is_dir(sub)) continue;
    if (n == name) return sub;
    if (std::string f = find_below(sub, name); !f.empty()) return f;
  }
  return "";
}

}  // namespace

void set_pod_frozen(const std::string& uuid, bool frozen, int timeout_ms) {
  PodCgroups c = find(uuid);
  const char* want = std::getenv("POD_STAGE1_FREEZER");
  const bool v1 = c.v2.empty() || (want && std::string(want) == "v1");
  if (!v1) {
    if (!exists_at(AT_FDCWD, c.v2 + "/cgroup.freeze"))
      throw Error("cgroup " + c.v2 + " has no cgroup.freeze (Linux 5.2 or later is needed)");
    write_cg(c.v2, "cgroup.freeze", frozen ? "1" : "0");
    wait_for([&] { return keyed(read_cg(c.v2, "cgroup.events").value_or(""), "frozen") == (frozen ? 1u : 0u); },
             timeout_ms, frozen ? "freezing " + c.v2 : "thawing " + c.v2);
    return;
  }
  if (!c.v1.count("freezer"))
    throw Error("pod " + uuid + " is in no freezer cgroup (neither cgroup2 nor the v1 freezer is mounted, or the pod "
                "was started without them)");
  const std::string dir = c.v1["freezer"];
  const std::string state = frozen ? "FROZEN" : "THAWED";
  write_cg(dir, "freezer.state", state);
  wait_for([&] { return read_cg(dir, "freezer.state") == state; }, timeout_ms,
           (frozen ? "freezing " : "thawing ") + dir);
}

std::optional<std::string> why_not_freezable(const std::string& uuid) {
  PodCgroups c = find(uuid);
  if (!c.v2.empty() || c.v1.count("freezer")) return std::nullopt;
  return "pod " + uuid + " is in no cgroup to freeze (a rootless pod has none of its own, Documentation/rootless.md; "
         "otherwise neither cgroup2 nor the v1 freezer was mounted when it started)";
}

void thaw_pod_cgroups(const std::string& uuid) {
  PodCgroups c = find(uuid);
  if (!c.v2.empty() && read_cg(c.v2, "cgroup.freeze").value_or("0") == "1")
    write_cg(c.v2, "cgroup.freeze", "0");
  if (c.v1.count("freezer") && read_cg(c.v1["freezer"], "freezer.state").value_or("THAWED") != "THAWED")
    write_cg(c.v1["freezer"], "freezer.state", "THAWED");
}

CgroupUsage pod_cgroup_usage(const std::string& uuid, const std::vector<std::string>& apps) {
  PodCgroups c = find(uuid);
  CgroupUsage out;
  out.pod = usage(c.v2, c.v1);
  if (!out.pod.contains("pids") && !c.v2.empty()) {  // cgroup2 without the pids controller: count
    uint64_t n = 0;
    std::function<void(const std::string&)> count = [&](const std::string& dir) {
      std::istringstream in(read_cg(dir, "cgroup.procs").value_or(""));
      for (std::string l; std::getline(in, l);) n += !l.empty();
      if (UniqueFd d = try_open_dir_at(AT_FDCWD, dir))
        for (const auto& e : list_dir(d.get()))
          if (is_dir(dir + "/" + e)) count(dir + "/" + e);
    };
    count(c.v2);
    out.pod["pids"] = n;
  }
  for (const auto& app : apps) {
    for (const std::string& name : {app, "app-" + app}) {
      std::string v2 = c.v2.empty() ? "" : find_below(c.v2, name);
      std::map<std::string, std::string> v1;
      for (const auto& [ctl, dir] : c.v1)
        if (std::string f = find_below(dir, name); !f.empty()) v1[ctl] = f;
      if (v2.empty() && v1.empty()) continue;
      out.apps[app] = usage(v2, v1);
      break;
    }
  }
  return out;
}

}  // namespace pod::stage1
