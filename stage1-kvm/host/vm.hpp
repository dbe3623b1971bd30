// How stage1-kvm turns a pod into a VM: the choice of hypervisor and
// accelerator, the VM's size, and the VMM command lines. Pure functions of
// their inputs (no I/O) so that they are unit-tested; see probe.hpp for the
// part that looks at the host.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "contract/manifest.hpp"
#include "contract/runtime.hpp"

namespace podkvm {

enum class Hypervisor { Qemu, Lkvm };
enum class Accel { Kvm, Tcg };

const char* to_string(Hypervisor h);
const char* to_string(Accel a);

// A host directory the guest mounts by tag.
struct Share {
  std::string tag;          // "pod", "vol0", …
  std::string host_path;    // absolute
  std::string socket;       // qemu: the virtiofsd socket (relative to $P)
  bool read_only = false;
  // Keep the guest's page cache of a file across opens (see virtiofsd_argv):
  // for the pod dir, whose binaries the guest execs, not for host volumes.
  bool keep_cache = false;
};

// A virtio-net NIC on a tap device that qemu is given open (fd inherited).
struct TapNic {
  int fd = -1;
  std::string mac;
};

struct VmSpec {
  std::string uuid;
  std::string kernel;
  std::string initrd;
  std::string kernel_cmdline_extra;  // appended to the default command line
  int cpus = 1;
  uint64_t memory_mib = 128;
  Accel accel = Accel::Tcg;
  std::string machine = "pc";        // qemu machine type: pc, q35 or microvm
  std::string ram_dir;               // guest RAM in a file here (a huge-page tmpfs); empty = memfd
  std::string console_log;           // file for the serial console
  std::string console_socket;        // or: qemu connects it to this socket (interactive; ConsoleRelay)
  bool console_pipe = false;         // interactive with stdin not a terminal: no echo in the guest
                                     // (neither: stdio, lkvm's interactive console)
  std::string ctl_socket;            // unix socket paths serving the agent ports
  std::string enter_socket;
  std::string qmp_socket;            // qemu's QMP server (pause/resume); "" = none
  std::string notify_socket;         // qemu connects the pod.notify port to it (we listen); "" = none
  std::vector<Share> shares;         // shares[0] is the pod dir, tag "pod"
  bool user_net = false;             // the VMM's user-mode (NAT) network; false = no NIC at all
  std::string passt_socket;          // user_net through passt(1) on this unix socket (--net=pasta), not qemu's slirp
  std::vector<TapNic> taps;          // or: NICs on CNI networks (tapnet.hpp), qemu only
  bool debug = false;
};

// The user-mode network as the guest sees it (qemu's slirp, kvmtool's uip):
// its address/prefix, gateway, and the name server to use ("" = the host's,
// which the VMM's DHCP hands out).
struct UserNet {
  std::string address, gateway, dns;
};
UserNet user_net(Hypervisor h);
// AC_METADATA_URL as the guest must use it on the VMM's user-mode network:
// a service on the host's loopback (127.x, the default URL) is qemu's
// gateway there (10.0.2.2 reaches the host's loopback); any other URL, and
// lkvm's (whose gateway is not the host's loopback), unchanged.
std::string user_net_metadata_url(const std::string& url, Hypervisor h);

// The guest kernel command line (console, quiet boot, which share type the
// guest mounts, the pod uuid).
std::string kernel_cmdline(const VmSpec& vm, const std::string& share_type);

// argv of qemu-system-x86_64 (argv[0] = qemu) for the spec. The shares are
// served by virtiofsd (vhost-user-fs), which needs guest RAM in a shared memfd.
std::vector<std::string> qemu_argv(const std::string& qemu, const VmSpec& vm);
// argv of virtiofsd serving one share.
std::vector<std::string> virtiofsd_argv(const std::string& virtiofsd, const Share& s);
// argv of `lkvm run` for the spec: shares as 9p (lkvm has no vhost-user-fs),
// the agent ports on virtio-console are not available, so enter/stop use the
// 9p-shared stage1-state dir (see Documentation/stage1-kvm.md).
std::vector<std::string> lkvm_argv(const std::string& lkvm, const VmSpec& vm);
// passt(1) behind the VM's NIC for --net=pasta (a rootless pod's user-mode
// network), forwarding what --publish asked.
std::vector<std::string> passt_argv(const VmSpec& vm, const std::vector<pod::contract::PortMapping>& publish);

// ---- what the pod asks for -----------------------------------------------

// Parse an appc memory quantity ("128M", "1Gi", "1048576") into bytes.
std::optional<uint64_t> parse_memory(const nlohmann::json& v);
// VM memory in MiB: the stage1 option "memory" if set, else 128 MiB plus
// the apps' resource/memory isolator limits.
uint64_t vm_memory_mib(const pod::contract::PodManifest& pm, const pod::contract::Runtime& runtime);
// Virtual CPUs: the stage1 option "cpus", else enough for the apps'
// resource/cpu limits together (rounded up), at least 1.
int vm_cpus(const pod::contract::PodManifest& pm, const pod::contract::Runtime& runtime);

struct Volume {
  std::string name;
  std::string kind;       // "host" or "empty"
  std::string source;     // host: absolute host path
  bool read_only = false;
  bool recursive = true;  // host: with its submounts
};
// The pod manifest's volumes.
std::vector<Volume> pod_volumes(const pod::contract::PodManifest& pm);

// The pod exit status from the apps' exit records: the first app (manifest
// order) whose record has a non-zero exitCode, else 0; nullopt when no app has
// a record. `records` maps app name -> parsed record.
std::optional<int> pod_exit_status(const std::vector<std::string>& apps,
                                   const std::vector<std::optional<nlohmann::json>>& records);

// Hypervisor/accel requests: "auto", or a forced value.
struct Choice {
  std::string hypervisor = "auto";  // stage1 option "hypervisor", env POD_KVM_HYPERVISOR
  std::string accel = "auto";       // stage1 option "accel", env POD_KVM_ACCEL
};
// Combine the stage1 options with the environment: an explicit (non-auto)
// option wins, then the environment. Throws pod::Error on bad values.
Choice resolve_choice(const pod::contract::Runtime& runtime, const char* env_hypervisor, const char* env_accel);

}  // namespace podkvm
