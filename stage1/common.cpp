#include "common.hpp"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <iostream>
#include <sstream>

#include "net/cni/podnet.hpp"
#include "cgroupplaces.hpp"
#include "resources.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"
#include "util/mount.hpp"

namespace pod::stage1 {

std::optional<pid_t> read_pid(int pod_dirfd) {
  auto s = try_read_file_at(pod_dirfd, poddir::kPid, 64);
  if (!s) return std::nullopt;
  try {
    long v = std::stol(*s);
    if (v > 0) return static_cast<pid_t>(v);
  } catch (const std::exception&) {
  }
  throw Error("malformed pid file: \"" + *s + "\"");
}

bool pid_belongs_to_pod(pid_t pid, const std::string& uuid) {
  auto cg = try_read_file_at(AT_FDCWD, "/proc/" + std::to_string(pid) + "/cgroup", 65536);
  if (!cg) return false;
  // Ours: pod/pod-<uuid>; machined's scope escapes '-' in unit names as \x2d.
  std::string escaped;
  for (char c : uuid) escaped += c == '-' ? std::string("\\x2d") : std::string(1, c);
  return cg->find(uuid) != std::string::npos || cg->find(escaped) != std::string::npos;
}

bool pid_is_pods(pid_t pid, const std::string& uuid, int pod_dirfd) {
  if (pid_belongs_to_pod(pid, uuid)) return true;
  const struct stat pod = stat_fd(pod_dirfd);
  const std::string fds = "/proc/" + std::to_string(pid) + "/fd";
  UniqueFd d = try_open_dir_at(AT_FDCWD, fds);
  if (!d) return false;
  for (const auto& n : list_dir(d.get())) {
    struct stat st;
    if (::fstatat(d.get(), n.c_str(), &st, 0) == 0 && st.st_dev == pod.st_dev && st.st_ino == pod.st_ino) return true;
  }
  return false;
}

bool is_v1_hierarchy_of(const std::string& mount_point, const std::string& controller) {
  // Named after its controllers, comma-joined ("cpu,cpuacct"), as every distribution mounts them.
  std::string base = mount_point.substr(mount_point.rfind('/') + 1);
  std::istringstream in(base);
  for (std::string c; std::getline(in, c, ',');)
    if (c == controller) return true;
  return false;
}

namespace {

struct PodCgroup {
  std::string dir;
  bool v2;
};

std::vector<PodCgroup> pod_cgroups(const std::string& uuid) {
  std::vector<PodCgroup> out;
  for (const auto& m : read_mountinfo()) {
    bool v2 = m.fstype == "cgroup2";
    bool v1_systemd = m.fstype == "cgroup" && m.mount_point == "/sys/fs/cgroup/systemd";
    // The v1 freezer, for pause on hosts without cgroup2 (cgroupops.cpp); its
    // root cgroup sets no limits, so joining it changes nothing else.
    bool v1_freezer = m.fstype == "cgroup" && is_v1_hierarchy_of(m.mount_point, "freezer");
    if ((v2 || v1_systemd || v1_freezer) && m.mount_point.rfind("/sys/fs/cgroup", 0) == 0)
      out.push_back({pod_cgroup_in(m.mount_point, uuid), v2});
  }
  std::sort(out.begin(), out.end(), [](const PodCgroup& a, const PodCgroup& b) { return a.dir < b.dir; });
  out.erase(std::unique(out.begin(), out.end(), [](const PodCgroup& a, const PodCgroup& b) { return a.dir == b.dir; }),
            out.end());
  return out;
}

}  // namespace

UniqueFd make_cgroup(const std::string& dir) {
  const std::string parent = dir.substr(0, dir.rfind('/'));
  for (const auto& d : {parent, dir})
    if (::mkdir(d.c_str(), 0755) < 0 && errno != EEXIST) throw_sys("cannot create cgroup " + d);
  return open_dir(dir);
}

void join_pod_netns(const std::string& pod_path) {
  const std::string path = pod_path + "/" + cni::kNetns;
  UniqueFd ns(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!ns) throw_sys("cannot open the pod's network namespace " + path);
  if (::setns(ns.get(), CLONE_NEWNET) < 0) throw_sys("cannot join the pod's network namespace " + path);
}

std::vector<std::string> pod_cgroup_dirs(const std::string& uuid) {
  std::vector<std::string> out;
  for (auto& c : pod_cgroups(uuid)) out.push_back(std::move(c.dir));
  return out;
}

void join_pod_cgroups(const std::string& uuid) {
  for (const auto& c : pod_cgroups(uuid)) {
    UniqueFd d = make_cgroup(c.dir);
    write_file_at(d.get(), "cgroup.procs", "0\n", 0644, Durability::kVolatile);
  }
}

UniqueFd make_pod_cgroup2(const std::string& uuid) {
  for (const auto& c : pod_cgroups(uuid))
    if (c.v2) return make_cgroup(c.dir);
  return UniqueFd();
}

namespace {

// Sub-cgroups first (deepest first), then the dir itself.
std::vector<std::string> cgroup_tree(const std::string& dir) {
  std::vector<std::string> out;
  UniqueFd d = try_open_dir_at(AT_FDCWD, dir);
  if (!d) return out;
  for (const auto& n : list_dir(d.get())) {
    auto st = stat_at(d.get(), n);
    if (st && S_ISDIR(st->st_mode))
      for (auto& sub : cgroup_tree(dir + "/" + n)) out.push_back(std::move(sub));
  }
  out.push_back(dir);
  return out;
}

void kill_procs(const std::string& cg) {
  // cgroup2 (Linux 5.14+) kills the whole subtree at once.
  if (::access((cg + "/cgroup.kill").c_str(), F_OK) == 0) {
    int fd = ::open((cg + "/cgroup.kill").c_str(), O_WRONLY | O_CLOEXEC);
    if (fd >= 0) {
      (void)!::write(fd, "1", 1);
      ::close(fd);
      return;
    }
  }
  for (const auto& sub : cgroup_tree(cg)) {
    auto procs = try_read_file_at(AT_FDCWD, sub + "/cgroup.procs");
    std::istringstream in(procs.value_or(""));
    pid_t pid;
    while (in >> pid) ::kill(pid, SIGKILL);
  }
}

}  // namespace

void remove_pod_cgroups(const std::string& uuid) {
  std::vector<std::string> dirs = pod_cgroup_dirs(uuid);
  for (auto& d : all_v1_cgroup_dirs(uuid)) dirs.push_back(std::move(d));
  for (const auto& dir : dirs) {
    if (::access(dir.c_str(), F_OK) < 0) continue;
    kill_procs(dir);
    // Killed processes leave their cgroup asynchronously: retry for a while.
    for (int attempt = 0;; ++attempt) {
      bool busy = false;
      for (const auto& cg : cgroup_tree(dir))
        if (::rmdir(cg.c_str()) < 0 && errno != ENOENT) busy = true;
      if (!busy) break;
      if (attempt == 500) throw Error("cannot remove cgroup " + dir + ": still busy", EBUSY);
      struct timespec ts {0, 2000000};
      ::nanosleep(&ts, nullptr);
    }
  }
}

bool Args::has(const std::string& flag) const {
  return std::find(flags.begin(), flags.end(), flag) != flags.end();
}

std::optional<std::string> Args::value(const std::string& name) const {
  for (const auto& f : flags)
    if (f.rfind(name + "=", 0) == 0) return f.substr(name.size() + 1);
  return std::nullopt;
}

Args parse_args(int argc, char** argv, const std::vector<std::string>& known_flags) {
  Args a;
  int i = 1;
  for (; i < argc; ++i) {
    std::string s = argv[i];
    if (s == "--") {
      ++i;
      break;
    }
    if (s.rfind("--", 0) == 0) {
      std::string name = s.substr(0, s.find('='));
      if (std::find(known_flags.begin(), known_flags.end(), name) == known_flags.end())
        throw usage_error("unknown flag " + s);
      a.flags.push_back(s);
    } else {
      a.positional.push_back(s);
    }
  }
  for (; i < argc; ++i) a.rest.emplace_back(argv[i]);
  return a;
}

UniqueFd fresh_app_ready_dir(int pod_dirfd) {
  if (stat_at(pod_dirfd, poddir::kAppReadyDir)) remove_tree_at(pod_dirfd, poddir::kAppReadyDir);
  return mkdirs_at(pod_dirfd, poddir::kAppReadyDir, 0755);
}

int guarded_main(const char* prog, int (*body)(int, char**), int argc, char** argv) {
  try {
    return body(argc, argv);
  } catch (const Error& e) {
    std::cerr << prog << ": " << e.what() << "\n";
    return e.kind() == ErrorKind::Usage ? 2 : 1;
  } catch (const std::exception& e) {
    std::cerr << prog << ": " << e.what() << "\n";
    return 1;
  }
}

}  // namespace pod::stage1
