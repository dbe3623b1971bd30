// The guest's network, set up by PID 1 before the pod init starts (the apps
// share the guest's network namespace). Loopback always comes up, as under
// nspawn. With kernel parameter pod.net=ADDR/PREFIX,GATEWAY (the VMM's
// user-mode network: qemu's 10.0.2.15/24 via 10.0.2.2) the first virtio-net
// interface gets that address and the default route; the host writes the
// matching resolv.conf for the pod init (Documentation/stage1-kvm.md).
// On CNI networks the host puts what each NIC has in the netns (its MAC,
// MTU, IPv4 addresses and routes) in guest.json's "nics" (host/tapnet.hpp);
// configure_nics() gives it to the NIC with that MAC, by ioctl.
#pragma once
#include <nlohmann/json.hpp>
#include <string>

namespace podkvm {

// Returns false, after logging why, when something could not be set up.
bool bring_up_loopback();
bool configure_net(const std::string& spec);
bool configure_nics(const nlohmann::json& nics);

}  // namespace podkvm
