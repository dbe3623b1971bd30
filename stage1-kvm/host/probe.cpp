#include "probe.hpp"

#include <fcntl.h>
#include <linux/kvm.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <vector>

#include "util/error.hpp"
#include "util/process.hpp"

namespace podkvm {

namespace {

std::string slurp(const std::string& p) {
  std::ifstream f(p);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

std::string boot_id() {
  std::string id = slurp("/proc/sys/kernel/random/boot_id");
  while (!id.empty() && id.back() == '\n') id.pop_back();
  return id;
}

std::string cache_path() {
  const char* e = getenv("POD_KVM_PROBE_CACHE");
  return e && *e ? e : "/run/pod/stage1-kvm-accel";
}

// Boot the guest in probe mode; true when the marker shows up on the console.
bool boot_probe(const std::string& qemu, const std::string& kernel, const std::string& initrd, int timeout_s,
                std::string& reason) {
  char tmpl[] = "/tmp/pod-kvm-probe.XXXXXX";
  int fd = mkstemp(tmpl);
  if (fd < 0) {
    reason = std::string("mkstemp: ") + strerror(errno);
    return false;
  }
  close(fd);
  std::string log = tmpl;
  std::vector<std::string> args = {qemu, "-machine", "pc", "-accel", "kvm", "-cpu", "host", "-m", "128M",
                                   "-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
                                   "-serial", "file:" + log, "-kernel", kernel, "-initrd", initrd,
                                   "-append", "console=ttyS0 quiet panic=-1 pod.probe=1"};
  pod::ChildOptions o;
  o.in = o.out = o.err = pod::Redirect::null();
  std::optional<int> status;
  try {
    pod::Child qemu_child = pod::Child::start(args, o);
    status = qemu_child.wait_for(timeout_s * 1000);
    if (!status) qemu_child.kill_and_wait();
  } catch (const pod::Error& e) {
    reason = e.what();
    unlink(log.c_str());
    return false;
  }
  const bool exited = status.has_value();
  bool marker = slurp(log).find("POD-KVM-PROBE-OK") != std::string::npos;
  unlink(log.c_str());
  if (!exited) {
    reason = "a KVM guest did not boot within " + std::to_string(timeout_s) + " s";
    return false;
  }
  if (!marker) {
    reason = "a KVM guest failed to boot (qemu exit status " + std::to_string(*status) + ")";
    return false;
  }
  return true;
}

}  // namespace

std::string kvm_device_problem() {
  int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
  if (fd < 0) return std::string("/dev/kvm: ") + strerror(errno);
  int v = ioctl(fd, KVM_GET_API_VERSION, 0);
  if (v != KVM_API_VERSION) {
    close(fd);
    return "/dev/kvm: unexpected KVM API version " + std::to_string(v);
  }
  int vm = ioctl(fd, KVM_CREATE_VM, 0);
  if (vm < 0) {
    std::string r = std::string("KVM_CREATE_VM: ") + strerror(errno);
    close(fd);
    return r;
  }
  close(vm);
  close(fd);
  return "";
}

AccelVerdict kvm_verdict(const std::string& qemu, const std::string& kernel, const std::string& initrd,
                         int timeout_s) {
  AccelVerdict v;
  if (std::string p = kvm_device_problem(); !p.empty()) {
    v.reason = p;
    return v;  // cheap, never cached
  }
  const std::string id = boot_id();
  const std::string path = cache_path();
  std::istringstream cached(slurp(path));
  std::string c_id, c_verdict;
  if (cached >> c_id >> c_verdict && c_id == id) {
    v.kvm = c_verdict == "kvm";
    std::getline(cached, v.reason);
    if (!v.reason.empty() && v.reason[0] == ' ') v.reason.erase(0, 1);
    if (v.reason.empty()) v.reason = "cached verdict";
    return v;
  }
  std::string reason;
  v.kvm = boot_probe(qemu, kernel, initrd, timeout_s, reason);
  v.reason = v.kvm ? "probed" : reason;
  std::string dir = path.substr(0, path.rfind('/'));
  if (!dir.empty()) mkdir(dir.c_str(), 0755);
  std::string tmp = path + ".tmp." + std::to_string(getpid());
  {
    std::ofstream out(tmp);
    out << id << " " << (v.kvm ? "kvm" : "tcg") << " " << v.reason << "\n";
  }
  rename(tmp.c_str(), path.c_str());
  return v;
}

}  // namespace podkvm
