#include "vm.hpp"

#include <algorithm>
#include <cctype>
#include <cstring>

#include "isolators/isolators.hpp"
#include "rootless/passt.hpp"
#include "stage1abi/options.hpp"
#include "util/error.hpp"

using json = nlohmann::json;

namespace podkvm {

const char* to_string(Hypervisor h) { return h == Hypervisor::Qemu ? "qemu" : "lkvm"; }
const char* to_string(Accel a) { return a == Accel::Kvm ? "kvm" : "tcg"; }

UserNet user_net(Hypervisor h) {
  if (h == Hypervisor::Qemu) return {"10.0.2.15/24", "10.0.2.2", "10.0.2.3"};
  return {"192.168.33.15/24", "192.168.33.1", ""};
}

std::string user_net_metadata_url(const std::string& url, Hypervisor h) {
  const std::string scheme = "http://";
  if (h != Hypervisor::Qemu || url.rfind(scheme + "127.", 0) != 0) return url;
  const size_t colon = url.find(':', scheme.size());
  if (colon == std::string::npos) return url;
  return scheme + user_net(h).gateway + url.substr(colon);
}

std::string kernel_cmdline(const VmSpec& vm, const std::string& share_type) {
  // quiet: under TCG every console byte costs; panic=-1 + -no-reboot turn a
  // guest panic into a VMM exit instead of a hang.
  std::string c = "console=ttyS0 quiet panic=-1 reboot=t tsc=reliable";
  c += " pod.share=" + share_type;
  c += " pod.uuid=" + vm.uuid;
  if (vm.debug) c += " pod.debug";
  // The console is the app's terminal: no kernel messages on it, not even
  // the final "reboot: Power down" (emergency level).
  else if (!vm.console_socket.empty()) c += " loglevel=0";
  if (vm.console_pipe) c += " pod.console=pipe";
  if (vm.user_net) {
    UserNet n = user_net(share_type == "9p" ? Hypervisor::Lkvm : Hypervisor::Qemu);
    c += " pod.net=" + n.address + "," + n.gateway;
  }
  if (vm.machine == "microvm") c += " pod.mmio";
  // TCG on pc: route PCI interrupts by the BIOS's PIRQ table, not by ACPI.
  // Enabling the ACPI interrupt links (\_SB.LNKx) of the two virtio devices
  // runs the AML interpreter: ~0.35 s of the virtio_pci load under TCG; the
  // ACPI PCI root scan goes too. Without ACPI's PCI setup the devices get no
  // MSI domain (MSI-X setup WARNs and falls back), so use INTx outright. With
  // KVM the ACPI cost is small and MSI-X is worth keeping.
  if (vm.machine == "pc" && vm.accel == Accel::Tcg) c += " pci=noacpi pci=nomsi";
  if (!vm.kernel_cmdline_extra.empty()) c += " " + vm.kernel_cmdline_extra;
  return c;
}

std::vector<std::string> qemu_argv(const std::string& qemu, const VmSpec& vm) {
  const bool mmio = vm.machine == "microvm";
  const std::string dev_fs = mmio ? "vhost-user-fs-device" : "vhost-user-fs-pci";
  const std::string dev_serial = mmio ? "virtio-serial-device" : "virtio-serial-pci";
  std::string machine = vm.machine;
  if (mmio) machine += ",isa-serial=on,rtc=on";
  machine += ",memory-backend=mem";
  // virtiofsd maps guest RAM: it must be shared memory. A memfd is made of
  // 4 KiB pages (shmem gets no transparent huge pages by default), which
  // costs TCG ~0.3 s of boot in page faults and TLB misses over anonymous
  // memory; a file on a huge=always tmpfs (see mount_private_huge_tmpfs) gets
  // 2 MiB pages, with the size a multiple of them.
  uint64_t mib = vm.memory_mib;
  std::string ram = "memory-backend-memfd,id=mem";
  if (!vm.ram_dir.empty()) {
    mib = (mib + 1) / 2 * 2;
    ram = "memory-backend-file,id=mem,mem-path=" + vm.ram_dir + ",align=2M";
  }
  ram += ",size=" + std::to_string(mib) + "M,share=on";
  std::vector<std::string> a = {
      qemu,
      "-name", "pod-" + vm.uuid + ",process=pod-" + vm.uuid,
      "-uuid", vm.uuid,
      "-machine", machine,
      "-accel", to_string(vm.accel),
      "-smp", std::to_string(vm.cpus),
      "-m", std::to_string(mib) + "M",
      "-object", ram,
      "-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
  };
  // The guest's RNG must be seeded before the pod init runs: the first
  // getrandom() (std::random_device in the init, or any app) otherwise blocks
  // until the kernel has gathered jitter entropy, 1.5-2 s under TCG. With
  // RDRAND (TCG emulates it from the host's getrandom) the kernel trusts the
  // CPU (CONFIG_RANDOM_TRUST_CPU) and the crng is ready at boot; KVM's
  // "host" model passes the host's RDRAND through.
  a.insert(a.end(), {"-cpu", vm.accel == Accel::Kvm ? "host" : "qemu64,+rdrand"});
  if (!vm.console_socket.empty()) {
    a.insert(a.end(), {"-chardev", "socket,id=con0,path=" + vm.console_socket, "-serial", "chardev:con0"});
  } else if (vm.console_log.empty()) {
    a.insert(a.end(), {"-chardev", "stdio,id=con0,signal=off", "-serial", "chardev:con0"});
  } else {
    a.insert(a.end(), {"-chardev", "file,id=con0,path=" + vm.console_log, "-serial", "chardev:con0"});
  }
  a.insert(a.end(), {"-kernel", vm.kernel, "-initrd", vm.initrd, "-append", kernel_cmdline(vm, "virtiofs")});
  const std::string dev_net = mmio ? "virtio-net-device" : "virtio-net-pci";
  if (vm.user_net)
    a.insert(a.end(), {"-netdev", vm.passt_socket.empty() ? "user,id=net0"
                                  : "stream,id=net0,server=off,addr.type=unix,addr.path=" + vm.passt_socket,
                       "-device", dev_net + ",netdev=net0"});
  for (size_t n = 0; n < vm.taps.size(); ++n) {
    const std::string id = "tap" + std::to_string(n);
    a.insert(a.end(), {"-netdev", "tap,id=" + id + ",fd=" + std::to_string(vm.taps[n].fd), "-device",
                       dev_net + ",netdev=" + id + ",mac=" + vm.taps[n].mac});
  }
  int i = 0;
  for (const auto& s : vm.shares) {
    std::string id = "fs" + std::to_string(i++);
    a.insert(a.end(), {"-chardev", "socket,id=" + id + ",path=" + s.socket, "-device",
                       dev_fs + ",chardev=" + id + ",tag=" + s.tag + ",queue-size=1024"});
  }
  a.insert(a.end(), {"-device", dev_serial + ",id=vser0,max_ports=4",
                     "-chardev", "socket,id=ctl,path=" + vm.ctl_socket + ",server=on,wait=off",
                     "-device", "virtserialport,bus=vser0.0,chardev=ctl,name=pod.ctl",
                     "-chardev", "socket,id=enter,path=" + vm.enter_socket + ",server=on,wait=off",
                     "-device", "virtserialport,bus=vser0.0,chardev=enter,name=pod.enter"});
  if (!vm.qmp_socket.empty()) a.insert(a.end(), {"-qmp", "unix:" + vm.qmp_socket + ",server=on,wait=off"});
  if (!vm.notify_socket.empty())  // qemu is the client here: stage1 run listens before qemu starts
    a.insert(a.end(), {"-chardev", "socket,id=notify,path=" + vm.notify_socket,
                       "-device", "virtserialport,bus=vser0.0,chardev=notify,name=pod.notify"});
  return a;
}

std::vector<std::string> virtiofsd_argv(const std::string& virtiofsd, const Share& s) {
  // sandbox=chroot: the namespace sandbox needs unprivileged userns/pivot_root
  // tricks that fail in containers; we run as root anyway.
  std::vector<std::string> a = {virtiofsd, "--socket-path=" + s.socket, "-o", "source=" + s.host_path,
                                "-o", "sandbox=chroot", "-o", "log_level=err"};
  // cache=auto drops the guest's page cache of a file at every open, so each
  // exec of the pod init, an app or a shell command re-reads the whole binary
  // over virtiofs: ~0.2 s per exec of a 2 MB static binary under TCG.
  // cache=always keeps it; timeout=1 keeps cache=auto's 1 s metadata timeout,
  // and the kernel (FUSE_AUTO_INVAL_DATA) still drops a file's pages when a
  // refreshed mtime or size shows that the host changed it. Host volumes keep
  // cache=auto's close-to-open consistency.
  if (s.keep_cache)
    a.insert(a.end(), {"-o", "cache=always", "-o", "timeout=1"});
  else
    a.insert(a.end(), {"-o", "cache=auto"});
  // virtiofsd 7.2 has no read-only export: a read-only share is enforced by
  // the guest's read-only mount.
  return a;
}

std::vector<std::string> passt_argv(const VmSpec& vm, const std::vector<pod::contract::PortMapping>& publish) {
  // The guest's address, gateway and DNS are those of qemu's own user network
  // (the kernel command line and resolv.conf say them either way); traffic to
  // the gateway reaches the host's loopback, as with slirp.
  const UserNet n = user_net(Hypervisor::Qemu);
  const std::string addr = n.address.substr(0, n.address.find('/'));
  std::vector<std::string> a = {"passt", "--foreground", "--quiet", "--socket", vm.passt_socket,
                                "-a", addr, "-n", n.address.substr(n.address.find('/') + 1), "-g", n.gateway,
                                "--dns-forward", n.dns};
  for (auto& s : pod::rootless::passt_forward_args(publish)) a.push_back(std::move(s));
  return a;
}

std::vector<std::string> lkvm_argv(const std::string& lkvm, const VmSpec& vm) {
  std::vector<std::string> a = {lkvm, "run",
                                "--name", "pod-" + vm.uuid,
                                "--kernel", vm.kernel,
                                "--initrd", vm.initrd,
                                "--cpus", std::to_string(vm.cpus),
                                "--mem", std::to_string(vm.memory_mib),
                                "--console", "serial",
                                "--network", vm.user_net ? "mode=user" : "mode=none",
                                "--params", kernel_cmdline(vm, "9p")};
  for (const auto& s : vm.shares) a.insert(a.end(), {"--9p", s.host_path + "," + s.tag});
  return a;
}

std::optional<uint64_t> parse_memory(const json& v) {
  if (v.is_number_integer()) return v.get<int64_t>() < 0 ? std::nullopt : std::optional<uint64_t>(v.get<uint64_t>());
  if (!v.is_string()) return std::nullopt;
  return pod::isolators::parse_quantity(v.get<std::string>());
}

uint64_t vm_memory_mib(const pod::contract::PodManifest& pm, const pod::contract::Runtime& runtime) {
  constexpr uint64_t kMiB = 1024 * 1024;
  if (std::string m = pod::contract::stage1_option(runtime, "memory", ""); !m.empty()) {
    auto b = pod::stage1::parse_size(m);
    if (!b || *b == 0) throw pod::Error("stage1 option memory=" + m + " is not a size");
    return std::max<uint64_t>(64, (*b + kMiB - 1) / kMiB);
  }
  // The guest's own overhead (kernel, boot, pod init) plus every app's limit.
  uint64_t total = 128 * kMiB;
  for (const auto& app : pm.apps)
    total += pod::isolators::parse(app.app.isolators, "app " + app.name).memory_limit.value_or(0);
  return (total + kMiB - 1) / kMiB;
}

int vm_cpus(const pod::contract::PodManifest& pm, const pod::contract::Runtime& runtime) {
  if (const std::string c = pod::contract::stage1_option(runtime, "cpus", ""); !c.empty()) {
    const auto n = pod::stage1::parse_integer(c);
    if (!n || *n < 1 || *n > 64) throw pod::Error("stage1 option cpus=" + c + " is not a number from 1 to 64");
    return static_cast<int>(*n);
  }
  // As rkt's kvm flavour: enough CPUs for the apps' cpu limits together, at least one.
  uint64_t milli = 0;
  for (const auto& app : pm.apps)
    milli += pod::isolators::parse(app.app.isolators, "app " + app.name).cpu_limit_milli.value_or(0);
  return static_cast<int>(std::clamp<uint64_t>((milli + 999) / 1000, 1, 64));
}

std::vector<Volume> pod_volumes(const pod::contract::PodManifest& pm) {
  std::vector<Volume> vols;
  for (const auto& v : pm.volumes) vols.push_back({v.name, pod::contract::to_string(v.kind), v.source, v.read_only, v.recursive});
  return vols;
}

std::optional<int> pod_exit_status(const std::vector<std::string>& apps,
                                   const std::vector<std::optional<json>>& records) {
  bool any = false;
  for (size_t i = 0; i < apps.size() && i < records.size(); i++) {
    if (!records[i]) continue;
    any = true;
    int code = records[i]->value("exitCode", 0);
    if (code != 0) return code;
  }
  if (!any) return std::nullopt;
  return 0;
}

Choice resolve_choice(const pod::contract::Runtime& runtime, const char* env_hyp, const char* env_accel) {
  Choice c;
  auto pick = [&](const char* key, const char* env, std::initializer_list<const char*> allowed) {
    std::string v = pod::contract::stage1_option(runtime, key, "auto");
    if ((v.empty() || v == "auto") && env && *env) v = env;
    if (v.empty()) v = "auto";
    bool ok = v == "auto";
    for (const char* a : allowed) ok = ok || v == a;
    if (!ok) throw pod::Error(std::string("invalid ") + key + " \"" + v + "\"");
    return v;
  };
  c.hypervisor = pick("hypervisor", env_hyp, {"qemu", "lkvm"});
  c.accel = pick("accel", env_accel, {"kvm", "tcg"});
  return c;
}

}  // namespace podkvm
