// Runtime::host_features(): what `pod version` reports about this host. Only
// looks (no probing VMs, no mounts): the kvm flavour's own probe decides
// whether KVM really boots a guest (Documentation/stage1-kvm.md).
#include <fcntl.h>
#include <linux/kvm.h>
#include <linux/magic.h>
#include <sys/ioctl.h>
#include <sys/utsname.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "api/impl.hpp"
#include "config.h"
#include "stage1abi/flavors.hpp"
#include "util/fs.hpp"

namespace pod {

namespace {

std::string cgroup_mode() {
  struct statfs sf {};
  if (::statfs("/sys/fs/cgroup", &sf) == 0 && sf.f_type == CGROUP2_SUPER_MAGIC) return "v2";
  if (::statfs("/sys/fs/cgroup/unified", &sf) == 0 && sf.f_type == CGROUP2_SUPER_MAGIC) return "hybrid";
  return "v1";
}

bool kvm_usable(std::string& why) {
  UniqueFd fd(::open("/dev/kvm", O_RDWR | O_CLOEXEC));
  if (!fd) {
    why = std::string("/dev/kvm: ") + std::strerror(errno);
    return false;
  }
  int v = ::ioctl(fd.get(), KVM_GET_API_VERSION, 0);
  if (v != KVM_API_VERSION) {
    why = "/dev/kvm answers API version " + std::to_string(v);
    return false;
  }
  return true;
}

bool overlay_available() {
  if (auto fs = try_read_file_at(AT_FDCWD, "/proc/filesystems", 1 << 16); fs && fs->find("\toverlay\n") != std::string::npos)
    return true;
  struct utsname u {};
  if (::uname(&u) != 0) return false;
  return ::access((std::string("/lib/modules/") + u.release + "/kernel/fs/overlayfs").c_str(), F_OK) == 0;
}

bool user_namespaces() {
  auto max = try_read_file_at(AT_FDCWD, "/proc/sys/user/max_user_namespaces", 64);
  if (!max || max->empty() || (*max)[0] == '0') return false;
  auto clone = try_read_file_at(AT_FDCWD, "/proc/sys/kernel/unprivileged_userns_clone", 64);
  return !clone || clone->empty() || (*clone)[0] != '0';
}

}  // namespace

HostFeatures Runtime::host_features() {
  return api::guarded([] {
    HostFeatures h;
    h.version = POD_VERSION;
    const stage1::FlavorConfig c = stage1::load_flavor_config();
    h.default_flavor = c.default_flavor;
    h.flavors = c.images;
    for (const auto& [name, image] : c.images)
      if (::access(image.c_str(), R_OK) == 0) h.installed_flavors.push_back(name);
    h.cgroup_mode = cgroup_mode();
    h.kvm_device = kvm_usable(h.kvm_detail);
    h.overlay = overlay_available();
    h.user_namespaces = user_namespaces();
    return h;
  });
}

}  // namespace pod
