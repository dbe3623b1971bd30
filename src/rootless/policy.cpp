#include "rootless/policy.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>

#include "appc/image_manifest.hpp"
#include "isolators/isolators.hpp"
#include "net/cni/config.hpp"
#include "rootless/userns.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"
#include "util/mount.hpp"

namespace pod::rootless {

std::string why_no_delegated_cgroup() {
  std::string v2;
  for (const auto& m : read_mountinfo())
    if (m.fstype == "cgroup2" && v2.empty()) v2 = m.mount_point;
  const std::string uid = std::to_string(host_uid());
  if (v2.empty())
    return "this host has no cgroup v2 hierarchy (cgroup v1 cannot be delegated to uid " + uid +
           "); boot with systemd.unified_cgroup_hierarchy=1";
  const std::string controllers = try_read_file_at(AT_FDCWD, v2 + "/cgroup.controllers", 4096).value_or("");
  if (controllers.find("memory") == std::string::npos)
    return "the cgroup v2 hierarchy at " + v2 + " has no memory, cpu or pids controller (a hybrid host keeps them in "
           "cgroup v1, which cannot be delegated); boot with systemd.unified_cgroup_hierarchy=1";
  // Delegation itself (a cgroup owned by the user, as systemd's user@.service Delegate=yes gives) is not
  // used yet: the native stage1 makes its pod cgroups at the root of the hierarchy.
  return "rootless pods do not use a delegated cgroup v2 yet (uid " + uid + ")";
}

void check_pod(const contract::PodManifest& m, const std::string& net, const std::vector<contract::PortMapping>& ports,
               const nlohmann::json& stage1_manifest, const std::string& stage1_name) {
  if (!active()) return;
  if (appc::manifest_annotation(stage1_manifest, kAnnRootless).value_or("") != "true")
    throw Error("stage1 " + stage1_name + " cannot run pods without root (its image does not declare " + kAnnRootless +
                    "=true); run as root, or use --stage1-flavor=native",
                EPERM, ErrorKind::Invalid);
  for (const auto& app : m.apps) {
    const auto iso = isolators::parse(app.app.isolators, "app " + app.name);
    if (iso.needs_cgroups() || iso.memory_request)
      throw Error("app " + app.name + ": resource limits (--memory, --cpu, --cpu-shares, --pids-limit) need a cgroup, and a "
                      "rootless pod has none: " + why_no_delegated_cgroup() + "; or run the pod as root",
                  EPERM, ErrorKind::Invalid);
  }
  if (cni::is_cni_net(net) && net != "pasta")
    throw usage_error("--net=" + net + ": CNI networks need root on the host; a rootless pod takes --net=none, "
                      "--net=host or --net=pasta");
  const std::string start = try_read_file_at(AT_FDCWD, "/proc/sys/net/ipv4/ip_unprivileged_port_start", 64).value_or("1024");
  const long first = std::strtol(start.c_str(), nullptr, 10);
  for (const auto& p : ports)
    if (p.host_port < first)
      throw usage_error("host port " + std::to_string(p.host_port) + ": a rootless pod can publish only ports from " +
                        std::to_string(first) + " up (net.ipv4.ip_unprivileged_port_start)");
}

}  // namespace pod::rootless
