// Unit tests of the pure parts of stage1-kvm: VMM command lines, VM sizing,
// volumes, exit status and hypervisor/accel selection.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <algorithm>

#include "../host/tapnet.hpp"
#include "../host/vm.hpp"
#include "util/error.hpp"

using json = nlohmann::json;
using namespace podkvm;

namespace {

bool has_pair(const std::vector<std::string>& v, const std::string& a, const std::string& b) {
  for (size_t i = 0; i + 1 < v.size(); i++)
    if (v[i] == a && v[i + 1] == b) return true;
  return false;
}

bool contains(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

VmSpec spec() {
  VmSpec vm;
  vm.uuid = "0b4e3d39-0000-4000-8000-000000000001";
  vm.kernel = "/k/vmlinuz";
  vm.initrd = "/k/initramfs.img";
  vm.memory_mib = 256;
  vm.cpus = 2;
  vm.console_log = "stage1-state/console.log";
  vm.ctl_socket = "stage1-state/ctl.sock";
  vm.enter_socket = "stage1-state/enter.sock";
  vm.shares = {{"pod", "/var/lib/pod/pods/run/x", "stage1-state/x-fs0.sock", false, true},
               {"vol1", "/srv/data", "stage1-state/x-fs1.sock", true}};
  return vm;
}

}  // namespace

TEST_CASE("qemu command line") {
  VmSpec vm = spec();
  auto a = qemu_argv("/usr/bin/qemu-system-x86_64", vm);
  CHECK(a[0] == "/usr/bin/qemu-system-x86_64");
  CHECK(has_pair(a, "-accel", "tcg"));
  CHECK(has_pair(a, "-cpu", "qemu64,+rdrand"));
  CHECK(has_pair(a, "-m", "256M"));
  CHECK(has_pair(a, "-smp", "2"));
  CHECK(has_pair(a, "-uuid", vm.uuid));
  CHECK(has_pair(a, "-machine", "pc,memory-backend=mem"));
  CHECK(has_pair(a, "-object", "memory-backend-memfd,id=mem,size=256M,share=on"));
  CHECK(has_pair(a, "-device", "vhost-user-fs-pci,chardev=fs0,tag=pod,queue-size=1024"));
  CHECK(has_pair(a, "-device", "vhost-user-fs-pci,chardev=fs1,tag=vol1,queue-size=1024"));
  CHECK(has_pair(a, "-chardev", "file,id=con0,path=stage1-state/console.log"));
  CHECK(has_pair(a, "-device", "virtserialport,bus=vser0.0,chardev=ctl,name=pod.ctl"));
  CHECK(contains(a, "-no-reboot"));
  auto it = std::find(a.begin(), a.end(), "-append");
  REQUIRE(it != a.end());
  CHECK((it + 1)->find("pod.share=virtiofs") != std::string::npos);
  CHECK((it + 1)->find("pod.uuid=" + vm.uuid) != std::string::npos);
  CHECK((it + 1)->find("pci=noacpi") != std::string::npos);

  vm.ram_dir = "stage1-state/ram";
  vm.memory_mib = 129;
  a = qemu_argv("qemu", vm);
  CHECK(has_pair(a, "-m", "130M"));
  CHECK(has_pair(a, "-object", "memory-backend-file,id=mem,mem-path=stage1-state/ram,align=2M,size=130M,share=on"));
  vm.ram_dir.clear();

  vm.accel = Accel::Kvm;
  vm.machine = "microvm";
  vm.console_log.clear();
  a = qemu_argv("qemu", vm);
  CHECK(has_pair(a, "-accel", "kvm"));
  CHECK(has_pair(a, "-cpu", "host"));
  CHECK(has_pair(a, "-machine", "microvm,isa-serial=on,rtc=on,memory-backend=mem"));
  CHECK(has_pair(a, "-device", "vhost-user-fs-device,chardev=fs0,tag=pod,queue-size=1024"));
  CHECK(has_pair(a, "-chardev", "stdio,id=con0,signal=off"));
  it = std::find(a.begin(), a.end(), "-append");
  REQUIRE(it != a.end());
  CHECK((it + 1)->find("pci=noacpi") == std::string::npos);
}

TEST_CASE("qemu command line: network, notify port, interactive console") {
  VmSpec vm = spec();
  auto a = qemu_argv("qemu", vm);
  CHECK(!contains(a, "-netdev"));  // --net=none: no NIC at all
  CHECK(!has_pair(a, "-device", "virtserialport,bus=vser0.0,chardev=notify,name=pod.notify"));
  vm.user_net = true;
  vm.notify_socket = "stage1-state/notify.sock";
  vm.console_log.clear();
  vm.console_socket = "stage1-state/console.sock";
  vm.console_pipe = true;
  a = qemu_argv("qemu", vm);
  CHECK(has_pair(a, "-netdev", "user,id=net0"));
  CHECK(has_pair(a, "-device", "virtio-net-pci,netdev=net0"));
  // qemu is the client of both: run listens before qemu starts.
  CHECK(has_pair(a, "-chardev", "socket,id=notify,path=stage1-state/notify.sock"));
  CHECK(has_pair(a, "-device", "virtserialport,bus=vser0.0,chardev=notify,name=pod.notify"));
  CHECK(has_pair(a, "-chardev", "socket,id=con0,path=stage1-state/console.sock"));
  const std::string cmdline = *(std::find(a.begin(), a.end(), "-append") + 1);
  CHECK(cmdline.find(" pod.net=10.0.2.15/24,10.0.2.2") != std::string::npos);
  CHECK(cmdline.find(" pod.console=pipe") != std::string::npos);
  CHECK(cmdline.find(" loglevel=0") != std::string::npos);  // the console is the app's terminal
  vm.debug = true;
  CHECK(kernel_cmdline(vm, "virtiofs").find("loglevel=0") == std::string::npos);
  CHECK(kernel_cmdline(vm, "9p").find(" pod.net=192.168.33.15/24,192.168.33.1") != std::string::npos);
  // A metadata service on the host's loopback is qemu's gateway for the guest; other URLs and lkvm's as they are.
  CHECK(user_net_metadata_url("http://127.0.0.1:18112/u/t", Hypervisor::Qemu) == "http://10.0.2.2:18112/u/t");
  CHECK(user_net_metadata_url("http://192.0.2.2:18112/u/t", Hypervisor::Qemu) == "http://192.0.2.2:18112/u/t");
  CHECK(user_net_metadata_url("http://127.0.0.1:18112/u/t", Hypervisor::Lkvm) == "http://127.0.0.1:18112/u/t");
}

TEST_CASE("qemu command line: NICs on CNI networks") {
  VmSpec vm = spec();
  vm.taps = {{7, "0e:a4:17:46:c8:96"}, {9, "0e:a4:17:46:c8:97"}};
  auto a = qemu_argv("qemu", vm);
  CHECK(has_pair(a, "-netdev", "tap,id=tap0,fd=7"));
  CHECK(has_pair(a, "-device", "virtio-net-pci,netdev=tap0,mac=0e:a4:17:46:c8:96"));
  CHECK(has_pair(a, "-netdev", "tap,id=tap1,fd=9"));
  CHECK(has_pair(a, "-device", "virtio-net-pci,netdev=tap1,mac=0e:a4:17:46:c8:97"));
  CHECK(!contains(a, "user,id=net0"));
  const std::string cmdline = *(std::find(a.begin(), a.end(), "-append") + 1);
  CHECK(cmdline.find("pod.net=") == std::string::npos);  // the guest reads guest.json's "nics" instead
  vm.machine = "microvm";
  CHECK(has_pair(qemu_argv("qemu", vm), "-device", "virtio-net-device,netdev=tap0,mac=0e:a4:17:46:c8:96"));
}

TEST_CASE("the routes of a CNI interface from /proc/net/route") {
  // What ptp leaves in a pod's netns: no on-link prefix route, the gateway
  // on-link, the subnet and the default route through it.
  const std::string text =
      "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n"
      "eth0\t00000000\t011C10AC\t0003\t0\t0\t0\t00000000\t0\t0\t0\n"
      "eth0\t001C10AC\t011C10AC\t0003\t0\t0\t0\t00FFFFFF\t0\t0\t0\n"
      "eth0\t011C10AC\t00000000\t0005\t0\t0\t0\tFFFFFFFF\t0\t0\t0\n"
      "eth1\t0000000A\t00000000\t0001\t0\t0\t100\t000000FF\t0\t0\t0\n"
      "eth0\t0000000B\t00000000\t0000\t0\t0\t0\t000000FF\t0\t0\t0\n"  // not up
      "garbage\n";
  auto r = parse_proc_routes(text, "eth0");
  REQUIRE(r.size() == 3);
  CHECK((r[0].dst == "0.0.0.0" && r[0].prefix == 0 && r[0].gw == "172.16.28.1"));
  CHECK((r[1].dst == "172.16.28.0" && r[1].prefix == 24 && r[1].gw == "172.16.28.1"));
  CHECK((r[2].dst == "172.16.28.1" && r[2].prefix == 32 && r[2].gw.empty()));
  auto r1 = parse_proc_routes(text, "eth1");
  REQUIRE(r1.size() == 1);
  CHECK((r1[0].dst == "10.0.0.0" && r1[0].prefix == 8 && r1[0].metric == 100));
  CHECK(parse_proc_routes(text, "eth2").empty());

  std::vector<GuestNic> nics(1);
  nics[0].network = "default";
  nics[0].mac = "0e:a4:17:46:c8:96";
  nics[0].mtu = 1400;
  nics[0].addresses = {"172.16.28.5/24"};
  nics[0].routes = r;
  const json j = guest_nics_json(nics);
  CHECK(j == json::parse(R"([{"network":"default","mac":"0e:a4:17:46:c8:96","mtu":1400,
      "addresses":["172.16.28.5/24"],
      "routes":[{"dst":"0.0.0.0/0","gateway":"172.16.28.1","metric":0},
                {"dst":"172.16.28.0/24","gateway":"172.16.28.1","metric":0},
                {"dst":"172.16.28.1/32","metric":0}]}])"));
}

TEST_CASE("the IPv6 routes of a CNI interface, from /proc/net/ipv6_route") {
  // ptp's dual-stack netns, as the kernel shows it (main, local and multicast entries).
  const std::string text =
      "fd770000000000000000000000000001 80 00000000000000000000000000000000 00 00000000000000000000000000000000 00000400 00000001 00000000 00000001     eth0\n"
      "fd770000000000000000000000000000 40 00000000000000000000000000000000 00 fd770000000000000000000000000001 00000400 00000001 00000000 00000003     eth0\n"
      "fe800000000000000000000000000000 40 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000002 00000000 00000001     eth0\n"
      "00000000000000000000000000000000 00 00000000000000000000000000000000 00 fd770000000000000000000000000001 00000400 00000001 00000000 00000003     eth0\n"
      "00000000000000000000000000000001 80 00000000000000000000000000000000 00 00000000000000000000000000000000 00000000 00000002 00000000 80200001       lo\n"
      "fd770000000000000000000000000003 80 00000000000000000000000000000000 00 00000000000000000000000000000000 00000000 00000002 00000000 80200001     eth0\n"
      "ff000000000000000000000000000000 08 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000005 00000000 00000001     eth0\n"
      "garbage\n";
  auto r = parse_proc_ipv6_routes(text, "eth0");
  REQUIRE(r.size() == 3);
  CHECK((r[0].dst == "fd77::1" && r[0].prefix == 128 && r[0].gw.empty() && r[0].metric == 1024));
  CHECK((r[1].dst == "fd77::" && r[1].prefix == 64 && r[1].gw == "fd77::1"));
  CHECK((r[2].dst == "::" && r[2].prefix == 0 && r[2].gw == "fd77::1"));
  CHECK(parse_proc_ipv6_routes(text, "eth1").empty());
}

TEST_CASE("lkvm and virtiofsd command lines") {
  VmSpec vm = spec();
  auto a = lkvm_argv("/usr/local/bin/lkvm", vm);
  CHECK(a[1] == "run");
  CHECK(has_pair(a, "--mem", "256"));
  CHECK(has_pair(a, "--cpus", "2"));
  CHECK(has_pair(a, "--9p", "/srv/data,vol1"));
  CHECK(has_pair(a, "--9p", "/var/lib/pod/pods/run/x,pod"));
  CHECK(has_pair(a, "--name", "pod-" + vm.uuid));
  auto it = std::find(a.begin(), a.end(), "--params");
  REQUIRE(it != a.end());
  CHECK((it + 1)->find("pod.share=9p") != std::string::npos);

  auto v = virtiofsd_argv("/usr/lib/qemu/virtiofsd", vm.shares[1]);
  CHECK(contains(v, "--socket-path=stage1-state/x-fs1.sock"));
  CHECK(contains(v, "source=/srv/data"));
  CHECK(contains(v, "cache=auto"));
  v = virtiofsd_argv("/usr/lib/qemu/virtiofsd", vm.shares[0]);
  CHECK(contains(v, "cache=always"));
  CHECK(contains(v, "timeout=1"));
}

namespace {
pod::contract::Runtime opts(std::map<std::string, std::string> o) {
  pod::contract::Runtime r;
  r.stage1_options = std::move(o);
  return r;
}
}  // namespace

TEST_CASE("memory and cpus") {
  CHECK(parse_memory(json("128M")) == 128000000u);
  CHECK(parse_memory(json("1Gi")) == 1073741824u);
  CHECK(parse_memory(json(4096)) == 4096u);
  CHECK(!parse_memory(json("12X")));
  CHECK(!parse_memory(json("")));
  CHECK(!parse_memory(json(".")));
  CHECK(!parse_memory(json(-1)));
  auto pm = pod::contract::parse_pod_manifest(R"({"acKind": "PodManifest", "acVersion": "0.8.11", "apps": [
    {"name": "a", "image": {"id": "sha512-0"}, "app": {"exec": ["/x"],
     "isolators": [{"name": "resource/memory", "value": {"limit": "64Mi"}}]}}]})");
  CHECK(vm_memory_mib(pm, {}) == 192);
  CHECK(vm_memory_mib(pm, opts({{"memory", "512Mi"}})) == 512);
  CHECK(vm_memory_mib({}, {}) == 128);
  CHECK_THROWS_AS(vm_memory_mib(pm, opts({{"memory", "lots"}})), pod::Error);
  CHECK(vm_cpus({}, {}) == 1);
  auto pc = pod::contract::parse_pod_manifest(R"({"acKind": "PodManifest", "acVersion": "0.8.11", "apps": [
    {"name": "a", "image": {"name": "x"}, "app": {"exec": ["/x"],
     "isolators": [{"name": "resource/cpu", "value": {"limit": "1500m"}}]}}]})");
  CHECK(vm_cpus(pc, {}) == 2);
  CHECK(vm_cpus(pc, opts({{"cpus", "4"}})) == 4);
  CHECK(vm_cpus({}, opts({{"cpus", "3"}})) == 3);
  CHECK_THROWS_AS(vm_cpus({}, opts({{"cpus", "0"}})), pod::Error);
  CHECK_THROWS_AS(vm_cpus({}, opts({{"cpus", "0.5"}})), pod::Error);
}

TEST_CASE("volumes come from the typed pod manifest") {
  auto pm = pod::contract::parse_pod_manifest(R"({"acKind": "PodManifest", "acVersion": "0.8.11",
    "volumes": [{"name": "data", "kind": "host", "source": "/srv/data", "readOnly": true, "recursive": false},
                {"name": "scratch", "kind": "empty"}],
    "apps": [{"name": "web", "image": {"id": "sha512-0"},
              "app": {"exec": ["/x"], "mountPoints": [{"name": "scratch", "path": "/var/scratch"}]},
              "mounts": [{"volume": "data", "path": "/data"}, {"volume": "scratch", "mountPoint": "scratch"}]}]})");
  auto v = pod_volumes(pm);
  REQUIRE(v.size() == 2);
  CHECK(v[0].read_only);
  CHECK_FALSE(v[0].recursive);
  CHECK(v[0].source == "/srv/data");
  CHECK(v[1].kind == "empty");
}

TEST_CASE("pod exit status") {
  std::vector<std::string> apps = {"a", "b", "c"};
  CHECK(!pod_exit_status(apps, {std::nullopt, std::nullopt, std::nullopt}));
  CHECK(pod_exit_status(apps, {json{{"exitCode", 0}}, json{{"exitCode", 0}}, std::nullopt}) == 0);
  CHECK(pod_exit_status(apps, {json{{"exitCode", 0}}, json{{"exitCode", 3}}, json{{"exitCode", 4}}}) == 3);
  CHECK(pod_exit_status(apps, {std::nullopt, json{{"exitCode", 143}, {"signal", 15}}, json{{"exitCode", 1}}}) ==
        143);
}

TEST_CASE("hypervisor and accel choice") {
  CHECK(resolve_choice({}, nullptr, nullptr).accel == "auto");
  CHECK(resolve_choice({}, nullptr, "tcg").accel == "tcg");
  CHECK(resolve_choice(opts({{"accel", "kvm"}}), nullptr, "tcg").accel == "kvm");
  CHECK(resolve_choice(opts({{"accel", "auto"}}), nullptr, "tcg").accel == "tcg");
  CHECK(resolve_choice(opts({{"hypervisor", "lkvm"}}), "qemu", nullptr).hypervisor == "lkvm");
  CHECK(resolve_choice({}, "qemu", nullptr).hypervisor == "qemu");
  CHECK_THROWS_AS(resolve_choice(opts({{"accel", "hvf"}}), nullptr, nullptr), pod::Error);
  CHECK_THROWS_AS(resolve_choice({}, "xen", nullptr), pod::Error);
}
