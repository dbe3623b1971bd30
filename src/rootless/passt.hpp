// The published ports of a rootless pod's user-mode network (--net=pasta,
// Documentation/rootless.md) as pasta(1)/passt(1) take them: "-t SPEC -u SPEC",
// each SPEC a comma list of [HOSTIP/]HOSTPORT:PODPORT, or "none". Both the
// native flavour (pasta on the pod's netns) and kvm (passt behind the VM's
// NIC) forward exactly what --publish asked. Header-only: the stage1s include it.
#pragma once
#include <string>
#include <vector>

#include "contract/runtime.hpp"

namespace pod::rootless {

inline std::vector<std::string> passt_forward_args(const std::vector<contract::PortMapping>& publish) {
  std::string tcp, udp;
  for (const auto& p : publish) {
    std::string spec = (p.host_ip.empty() ? "" : p.host_ip + "/") + std::to_string(p.host_port) + ":" +
                       std::to_string(p.pod_port);
    std::string& list = p.protocol == "udp" ? udp : tcp;
    list += (list.empty() ? "" : ",") + spec;
  }
  return {"-t", tcp.empty() ? "none" : tcp, "-u", udp.empty() ? "none" : udp};
}

}  // namespace pod::rootless
