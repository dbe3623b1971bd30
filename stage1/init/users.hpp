// User and group resolution inside an app's rootfs, without NSS: the init is
// static and the names belong to the image, so its /etc/passwd and /etc/group
// are parsed directly (appc: names first, then numbers, then "/path" owner).
#pragma once
#include <sys/types.h>

#include <string>
#include <vector>

namespace pod::init {

struct Credentials {
  uid_t uid = 0;
  gid_t gid = 0;
  std::vector<gid_t> groups;  // supplementary
  std::string home = "/";     // from passwd when known, for $HOME
};

// Resolve `user`/`group` of an app in the tree at rootfd. Throws a pod::Error
// naming what could not be resolved.
Credentials resolve_credentials(int rootfd, const std::string& user, const std::string& group,
                                const std::vector<gid_t>& supplementary);

}  // namespace pod::init
