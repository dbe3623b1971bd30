// The guest's network, set up by PID 1 before the pod init starts (the apps
// share the guest's network namespace). Loopback always comes up, as under
// nspawn. With kernel parameter pod.net=ADDR/PREFIX,GATEWAY (the VMM's
// user-mode network: qemu's 10.0.2.15/24 via 10.0.2.2) the first virtio-net
// interface gets that address and the default route; the host writes the
// matching resolv.conf for the pod init (Documentation/stage1-kvm.md).
#pragma once
#include <string>

namespace podkvm {

// Returns false, after logging why, when something could not be set up.
bool bring_up_loopback();
bool configure_net(const std::string& spec);

}  // namespace podkvm
