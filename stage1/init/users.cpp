#include "users.hpp"

#include <fcntl.h>
#include <sys/stat.h>

#include <optional>
#include <sstream>

#include "util/error.hpp"
#include "util/fs.hpp"
#include "util/inroot.hpp"

namespace pod::init {

namespace {

// One line of /etc/passwd or /etc/group split on ':'.
std::vector<std::string> fields(const std::string& line) {
  std::vector<std::string> out;
  std::string f;
  std::istringstream in(line);
  while (std::getline(in, f, ':')) out.push_back(f);
  if (!line.empty() && line.back() == ':') out.emplace_back();
  return out;
}

std::vector<std::vector<std::string>> read_db(int rootfd, const char* path) {
  std::vector<std::vector<std::string>> rows;
  UniqueFd fd = try_open_in_root(rootfd, path, O_RDONLY);
  if (!fd) return rows;
  std::istringstream in(read_fd(fd.get(), path, 4 << 20));
  std::string line;
  while (std::getline(in, line))
    if (!line.empty() && line[0] != '#') rows.push_back(fields(line));
  return rows;
}

std::optional<unsigned long> number(const std::string& s) {
  if (s.empty() || s.find_first_not_of("0123456789") != std::string::npos || s.size() > 10) return std::nullopt;
  return std::stoul(s);
}

struct stat owner_of(int rootfd, const std::string& path, const std::string& what) {
  UniqueFd fd = try_open_in_root(rootfd, path, O_PATH);
  if (!fd) throw Error(what + " " + path + ": no such file in the app's rootfs");
  return stat_fd(fd.get());
}

}  // namespace

Credentials resolve_credentials(int rootfd, const std::string& user, const std::string& group,
                                const std::vector<gid_t>& supplementary) {
  Credentials c;
  auto passwd = read_db(rootfd, "/etc/passwd");
  auto groups = read_db(rootfd, "/etc/group");
  bool found = false;
  for (const auto& p : passwd) {
    if (p.size() >= 7 && p[0] == user && number(p[2])) {
      c.uid = static_cast<uid_t>(*number(p[2]));
      c.home = p[5].empty() ? "/" : p[5];
      found = true;
      break;
    }
  }
  if (!found) {
    if (auto n = number(user)) {
      c.uid = static_cast<uid_t>(*n);
      for (const auto& p : passwd)
        if (p.size() >= 7 && number(p[2]) == n) c.home = p[5].empty() ? "/" : p[5];
    } else if (!user.empty() && user[0] == '/') {
      c.uid = owner_of(rootfd, user, "user").st_uid;
    } else {
      throw Error("user \"" + user + "\" not found in the app's /etc/passwd");
    }
  }
  found = false;
  for (const auto& g : groups) {
    if (g.size() >= 3 && g[0] == group && number(g[2])) {
      c.gid = static_cast<gid_t>(*number(g[2]));
      found = true;
      break;
    }
  }
  if (!found) {
    if (auto n = number(group))
      c.gid = static_cast<gid_t>(*n);
    else if (!group.empty() && group[0] == '/')
      c.gid = owner_of(rootfd, group, "group").st_gid;
    else
      throw Error("group \"" + group + "\" not found in the app's /etc/group");
  }
  c.groups = supplementary;
  return c;
}

}  // namespace pod::init
