#include "rootless/userns.hpp"

#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <sched.h>
#include <sys/mount.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <iostream>
#include <sstream>

#include "util/error.hpp"
#include "util/fs.hpp"
#include "util/process.hpp"

namespace pod::rootless {

namespace {

bool g_entered = false;  // this process made its user namespace (enter_user_namespace)

struct MapLine {
  uint32_t inside = 0, outside = 0, count = 0;
};

std::vector<MapLine> read_map(const char* file) {
  std::vector<MapLine> out;
  std::istringstream in(try_read_file_at(AT_FDCWD, file, 1 << 16).value_or(""));
  for (MapLine l; in >> l.inside >> l.outside >> l.count;) out.push_back(l);
  return out;
}

// The outside id of inside id 0 in `file` (/proc/self/uid_map), or nullopt.
std::optional<uint32_t> outside_of_root(const char* file) {
  for (const auto& l : read_map(file))
    if (l.inside == 0 && l.count > 0) return l.outside;
  return std::nullopt;
}

bool in_initial_user_namespace() {
  auto m = read_map("/proc/self/uid_map");
  return m.size() == 1 && m[0].inside == 0 && m[0].outside == 0 && m[0].count == 4294967295u;
}

uint32_t parse_id(const std::string& s, const std::string& where) {
  try {
    size_t n = 0;
    unsigned long v = std::stoul(s, &n);
    if (n == s.size() && v <= 0xffffffffu) return static_cast<uint32_t>(v);
  } catch (const std::exception&) {
  }
  throw Error(where + ": \"" + s + "\" is not a number", EINVAL, ErrorKind::Invalid);
}

std::string user_name(uid_t uid) {
  struct passwd* pw = ::getpwuid(uid);
  return pw ? pw->pw_name : std::to_string(uid);
}

std::string home_dir() {
  if (const char* h = std::getenv("HOME"); h && *h) return h;
  struct passwd* pw = ::getpwuid(host_uid());
  if (!pw || !pw->pw_dir || !*pw->pw_dir) throw Error("$HOME is not set and uid " + std::to_string(host_uid()) + " has no home directory");
  return pw->pw_dir;
}

std::string xdg(const char* var, const char* fallback) {
  if (const char* v = std::getenv(var); v && *v && v[0] == '/') return std::string(v) + "/pod";
  return home_dir() + "/" + fallback + "/pod";
}

// newuidmap/newgidmap PID 0 <host id> 1 1 <range start> <range count>
std::vector<std::string> map_command(const char* tool, pid_t pid, uint32_t id, const IdRange& r) {
  return {tool, std::to_string(pid), "0", std::to_string(id), "1", "1", std::to_string(r.start), std::to_string(r.count)};
}

bool on_path(const std::string& tool) {
  const char* path = std::getenv("PATH");
  std::istringstream in(path && *path ? path : "/usr/bin:/bin");
  for (std::string dir; std::getline(in, dir, ':');)
    if (!dir.empty() && ::access((dir + "/" + tool).c_str(), X_OK) == 0) return true;
  return false;
}

void write_proc(const char* file, const std::string& content) {
  UniqueFd fd(::open(file, O_WRONLY | O_CLOEXEC));
  if (!fd || ::write(fd.get(), content.data(), content.size()) != static_cast<ssize_t>(content.size()))
    throw_sys(std::string("cannot write ") + file);
}

}  // namespace

std::vector<SubIdEntry> sub_id_entries(const std::string& file) {
  std::vector<SubIdEntry> out;
  auto text = try_read_file_at(AT_FDCWD, file, 1 << 20);
  if (!text) return out;
  std::istringstream in(*text);
  int n = 0;
  for (std::string line; std::getline(in, line);) {
    ++n;
    if (line.empty() || line[0] == '#') continue;
    std::vector<std::string> f;
    std::istringstream ls(line);
    for (std::string part; std::getline(ls, part, ':');) f.push_back(part);
    SubIdEntry e{f.empty() ? "" : f[0], std::nullopt, file + " line " + std::to_string(n)};
    try {
      if (f.size() == 3) e.range = IdRange{parse_id(f[1], e.where), parse_id(f[2], e.where)};
    } catch (const Error&) {  // malformed: range stays empty, for the caller to judge
    }
    out.push_back(std::move(e));
  }
  return out;
}

std::optional<IdRange> sub_range(const std::string& file, const std::string& user, uint32_t id) {
  for (const auto& e : sub_id_entries(file)) {
    if (e.owner != user && e.owner != std::to_string(id)) continue;
    if (!e.range)
      throw Error(e.where + ": expected USER:START:COUNT (numbers)", EINVAL, ErrorKind::Invalid).with_item(file);
    if (e.range->count > 0) return e.range;
  }
  return std::nullopt;
}

bool active() { return g_entered || ::geteuid() != 0; }

uid_t host_uid() {
  if (!g_entered) return ::geteuid();
  return outside_of_root("/proc/self/uid_map").value_or(0);
}

gid_t host_gid() {
  if (!g_entered) return ::getegid();
  return outside_of_root("/proc/self/gid_map").value_or(0);
}

Mapping enter_user_namespace() {
  if (::geteuid() == 0) return Mapping::kNone;
  const uid_t uid = ::geteuid();
  const gid_t gid = ::getegid();
  const std::string name = user_name(uid);
  auto uids = sub_range("/etc/subuid", name, uid);
  auto gids = sub_range("/etc/subgid", name, uid);
  const bool tools = on_path("newuidmap") && on_path("newgidmap");
  if (uids && gids && !tools)
    std::cerr << "pod: warning: " << name << " has /etc/subuid and /etc/subgid ranges but newuidmap/newgidmap are not "
              << "installed (Debian: uidmap); only uid " << uid << " is mapped (Documentation/rootless.md)\n";
  const bool sub = uids && gids && tools;
  // The helper that maps us must stay in this (the parent) user namespace:
  // newuidmap is set-uid root, which counts only there. It waits for our
  // unshare on a pipe.
  int p[2];
  if (::pipe2(p, O_CLOEXEC) < 0) throw_sys("pipe");
  UniqueFd rd(p[0]), wr(p[1]);
  const pid_t self = ::getpid();
  Child helper;
  if (sub) {
    helper = Child::start_function([&] {
      wr.reset();
      char c;
      if (::read(rd.get(), &c, 1) != 1) return 1;  // the parent failed to unshare
      run_checked(map_command("newuidmap", self, uid, *uids), "newuidmap (mapping /etc/subuid's range of " + name + ")");
      run_checked(map_command("newgidmap", self, gid, *gids), "newgidmap (mapping /etc/subgid's range of " + name + ")");
      return 0;
    });
    rd.reset();
  }
  if (::unshare(CLONE_NEWUSER | CLONE_NEWNS) < 0)
    throw_sys("cannot create a user namespace for a rootless pod (is user.max_user_namespaces 0, or are "
              "unprivileged user namespaces disabled?)");
  if (sub) {
    if (::write(wr.get(), "x", 1) != 1) throw_sys("cannot wake the id mapping helper");
    wr.reset();
    if (int rc = helper.wait(); rc != 0)
      throw Error("cannot map the user namespace from /etc/subuid and /etc/subgid (newuidmap/newgidmap failed, "
                  "status " + std::to_string(rc) + "; is the uidmap package installed?)");
  } else {
    // Without ranges: only our own ids, which an unprivileged process may map itself.
    write_proc("/proc/self/setgroups", "deny");
    write_proc("/proc/self/uid_map", "0 " + std::to_string(uid) + " 1\n");
    write_proc("/proc/self/gid_map", "0 " + std::to_string(gid) + " 1\n");
  }
  if (::setresgid(0, 0, 0) < 0) throw_sys("cannot become gid 0 in the user namespace");
  if (::setresuid(0, 0, 0) < 0) throw_sys("cannot become uid 0 in the user namespace");
  g_entered = true;
  // Mounts made for the pod stay in this namespace.
  if (::mount(nullptr, "/", nullptr, MS_REC | MS_SLAVE, nullptr) < 0) throw_sys("cannot make / a slave mount");
  return sub ? Mapping::kSubIds : Mapping::kSingle;
}

std::string describe_mapping() {
  auto m = read_map("/proc/self/uid_map");
  if (in_initial_user_namespace()) return "none (root)";
  std::string s;
  for (const auto& l : m)
    s += (s.empty() ? "" : ", ") + std::to_string(l.inside) + "->" + std::to_string(l.outside) + "+" + std::to_string(l.count);
  return s.empty() ? "unmapped" : s;
}

std::string default_data_dir() { return xdg("XDG_DATA_HOME", ".local/share"); }
std::string config_dir() { return xdg("XDG_CONFIG_HOME", ".config"); }

}  // namespace pod::rootless
