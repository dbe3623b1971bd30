// Does hardware virtualisation really work here? /dev/kvm can exist and
// accept ioctls while a real guest kernel still cannot run (nested PVM), so
// the verdict comes from booting the guest kernel with a bounded timeout. The
// verdict is cached per host boot.
#pragma once
#include <string>

namespace podkvm {

struct AccelVerdict {
  bool kvm = false;
  std::string reason;  // why not, or "cached"/"probed"
};

// Cheap checks: /dev/kvm opens read-write, KVM_GET_API_VERSION is 12 and
// KVM_CREATE_VM works. Empty when they pass, else the reason.
std::string kvm_device_problem();

// The full verdict: device checks, then a boot of `kernel`+`initrd` with
// pod.probe=1 under qemu -accel kvm that must print the probe marker and power
// off within `timeout_s`. Cached in $POD_KVM_PROBE_CACHE or
// /run/pod/stage1-kvm-accel, keyed by the host's boot id.
AccelVerdict kvm_verdict(const std::string& qemu, const std::string& kernel, const std::string& initrd,
                         int timeout_s = 20);

}  // namespace podkvm
