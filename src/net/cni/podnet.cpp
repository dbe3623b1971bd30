#include "net/cni/podnet.hpp"

#include <fcntl.h>
#include <linux/magic.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <functional>

#include "contract/jsonread.hpp"
#include "net/cni/config.hpp"
#include "net/cni/plugin.hpp"
#include "util/crashpoint.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"
#include "util/lock.hpp"
#include "util/process.hpp"

#ifndef NSFS_MAGIC
#define NSFS_MAGIC 0x6e736673
#endif

namespace pod::cni {

namespace {

using nlohmann::json;

bool is_netns_mount(const std::string& path) {
  struct statfs sf;
  return ::statfs(path.c_str(), &sf) == 0 && static_cast<unsigned long>(sf.f_type) == NSFS_MAGIC;
}

// A forked child running `fn` (namespace changes stay there). finish()
// waits for it and throws its error, message and all.
class InChild {
 public:
  InChild(const std::function<void()>& fn, const std::string& what) : what_(what) {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) < 0) throw_sys("pipe");
    UniqueFd wr(fds[1]);
    rd_ = UniqueFd(fds[0]);
    ChildOptions o;
    o.in = Redirect::null();
    const int wfd = wr.get();
    child_ = Child::start_function(
        [&fn, wfd] {
          try {
            fn();
            return 0;
          } catch (const std::exception& e) {  // reported to the parent, which throws it
            const std::string m = e.what();
            (void)!::write(wfd, m.data(), m.size());
            return 1;
          }
        },
        o);
  }
  void finish() {
    const int rc = child_.wait();
    if (rc == 0) return;
    std::string msg = read_fd(rd_.get(), "child", 4096);
    throw Error(what_ + ": " + (msg.empty() ? describe_status(*child_.status()) : msg));
  }

 private:
  std::string what_;
  UniqueFd rd_;
  Child child_;
};

// Run `fn` in the host's mount namespace (here when ours is the host's).
void in_host_mntns(const Place& p, const std::function<void()>& fn, const std::string& what) {
  if (p.host_mntns_fd < 0) {
    fn();
    return;
  }
  InChild(
      [&] {
        if (::setns(p.host_mntns_fd, CLONE_NEWNS) < 0) throw_sys("cannot enter the host's mount namespace");
        fn();
      },
      what)
      .finish();
}

void bind_netns(const std::string& target) {
  if (is_netns_mount(target)) return;  // propagated from the host's namespace already
  if (::mount("/proc/self/ns/net", target.c_str(), nullptr, MS_BIND, nullptr) < 0)
    throw_sys("cannot bind-mount the pod's network namespace on " + target);
}

void unmount_netns(const std::string& target) {
  // Lazily: a process that still has it open (a plugin) cannot pin the teardown.
  while (is_netns_mount(target))
    if (::umount2(target.c_str(), MNT_DETACH) < 0) {
      if (errno == EINVAL || errno == ENOENT) break;
      throw_sys("cannot unmount " + target);
    }
}

const contract::NetworkAttachment* find(const std::vector<contract::NetworkAttachment>& nets, const Joined& j) {
  for (const auto& n : nets)
    if (n.name == j.name && n.ifname == j.ifname) return &n;
  return nullptr;
}

json runtime_config(const contract::NetworkAttachment& n) {
  json rc = json::object();
  if (n.ports.empty()) return rc;
  json pm = json::array();
  for (const auto& p : n.ports) {
    json m = {{"hostPort", p.host_port}, {"containerPort", p.pod_port}, {"protocol", p.protocol}};
    if (!p.host_ip.empty()) m["hostIP"] = p.host_ip;
    pm.push_back(m);
  }
  rc["portMappings"] = pm;
  return rc;
}

Invocation invocation(const Place& p, const contract::NetworkAttachment& n, const std::string& netns) {
  Invocation inv;
  inv.container_id = p.uuid;
  inv.netns = netns;
  inv.ifname = n.ifname;
  // Every plugin of the chain gets every arg, and plugins refuse args they do not
  // know unless told to ignore them (as Kubernetes and rkt tell them).
  inv.args = n.args.empty() || n.args.find("IgnoreUnknown=") != std::string::npos ? n.args : "IgnoreUnknown=1;" + n.args;
  inv.path = plugin_path();
  return inv;
}

std::string what_of(const contract::NetworkAttachment& n) { return "network " + n.name + " (" + n.source + ")"; }

// The bridges a network's bridge plugins make (their "bridge", default cni0).
std::vector<std::string> bridges_of(const contract::NetworkAttachment& n) {
  std::vector<std::string> v;
  for (const auto& p : n.conflist["plugins"])
    if (p.value("type", "") == "bridge") v.push_back(p.value("bridge", std::string("cni0")));
  return v;
}

// One lock per network across pods: a bridge is removed only when no pod is
// joining it, and only when no interface is left on it (the bridge plugin
// never removes the bridges it makes; we remove them with the last pod).
FileLock network_lock(const contract::NetworkAttachment& n) {
  UniqueFd root = open_dir("/");
  UniqueFd dir = mkdirs_at(root.get(), std::string(kLockDir).substr(1), 0700);
  return FileLock::acquire(dir.get(), n.name + ".lock", LockMode::Exclusive);
}

void remove_idle_bridges(const contract::NetworkAttachment& n) {
  for (const auto& br : bridges_of(n)) {
    if (br.empty() || br.find('/') != std::string::npos) continue;
    UniqueFd brif = try_open_dir_at(AT_FDCWD, "/sys/class/net/" + br + "/brif");
    if (!brif || !list_dir(brif.get()).empty()) continue;
    run_checked({"ip", "link", "del", br}, "removing the idle bridge " + br + " of network " + n.name);
  }
}

}  // namespace

json to_json(const NetState& s) {
  json a = json::array();
  for (const auto& n : s.networks)
    a.push_back({{"name", n.name}, {"ifname", n.ifname}, {"state", n.state}, {"result", n.result}});
  return {{"networks", a}};
}

NetState read_state(int pod_dirfd) {
  NetState s;
  auto text = try_read_file_at(pod_dirfd, kNetState, 4 << 20);
  if (!text) return s;
  const json j = contract::parse_json(*text, kNetState, 4 << 20);
  contract::Field root(kNetState, j);
  root.require_object();
  contract::Field nets = root.key("networks");
  for (size_t i = 0; i < nets.size(); ++i) {
    Joined n{nets.at(i).key("name").str(), nets.at(i).key("ifname").str(), nets.at(i).key("state").str(), nullptr};
    if (n.state != "adding" && n.state != "added" && n.state != "deleted")
      nets.at(i).key("state").fail("\"" + n.state + "\" is not adding, added or deleted");
    n.result = nets.at(i).value().value("result", json());
    s.networks.push_back(std::move(n));
  }
  return s;
}

void write_state(int pod_dirfd, const NetState& s) {
  write_file_atomic_at(pod_dirfd, kNetState, to_json(s).dump(2) + "\n", 0644, Durability::kVolatile);
}

int host_mntns_fd_from_env() {
  const char* v = std::getenv("POD_HOST_MNTNS_FD");
  if (!v || !*v) return -1;
  char* end = nullptr;
  long fd = std::strtol(v, &end, 10);
  if (*end || fd < 0 || ::fcntl(static_cast<int>(fd), F_GETFD) < 0) throw Error(std::string("POD_HOST_MNTNS_FD=") + v + " is not an open fd");
  ::fcntl(static_cast<int>(fd), F_SETFD, FD_CLOEXEC);
  return static_cast<int>(fd);
}

void create_netns(const Place& p) {
  const std::string path = p.netns_path();
  if (is_netns_mount(path)) throw Error("the pod already has a network namespace at " + path);
  {
    int fd = ::openat(p.pod_dirfd, kNetns, O_CREAT | O_RDONLY | O_CLOEXEC, 0444);
    if (fd < 0) throw_sys("cannot create " + path);
    ::close(fd);
  }
  // A child makes the namespace (so that we stay in the host's network) and
  // mounts it where it outlives every process: in the host's mount namespace
  // first, then in ours (a slave of the host's, where nspawn looks).
  InChild(
      [&] {
        if (::unshare(CLONE_NEWNET) < 0) throw_sys("cannot create a network namespace");
        if (p.host_mntns_fd >= 0) {
          UniqueFd own(::open("/proc/self/ns/mnt", O_RDONLY | O_CLOEXEC));
          if (!own) throw_sys("cannot open our mount namespace");
          if (::setns(p.host_mntns_fd, CLONE_NEWNS) < 0) throw_sys("cannot enter the host's mount namespace");
          bind_netns(path);
          if (::setns(own.get(), CLONE_NEWNS) < 0) throw_sys("cannot return to the pod's mount namespace");
        }
        bind_netns(path);
      },
      "cannot create the pod's network namespace")
      .finish();
  if (!is_netns_mount(path)) throw Error("the pod's network namespace is not mounted on " + path);
  crashpoint("net:netns-created");
}

NetState attach(const Place& p, const std::vector<contract::NetworkAttachment>& nets) {
  const std::string netns = p.netns_path();
  // lo up by the loopback plugin, alongside the networks (it touches nothing
  // else, and holds no state outside the namespace: no record needed).
  contract::NetworkAttachment lo;
  lo.name = "loopback";
  lo.ifname = "lo";
  lo.source = kBuiltin;
  lo.conflist = {{"cniVersion", "1.0.0"}, {"name", "loopback"}, {"plugins", json::array({{{"type", "loopback"}}})}};
  const Invocation lo_inv = invocation(p, lo, netns);
  InChild lo_child([&] { (void)add_list(lo.conflist, lo_inv, json::object(), "loopback"); },
                   "bringing lo up with the loopback plugin");
  NetState s = read_state(p.pod_dirfd);
  for (const auto& n : nets) {
    s.networks.push_back({n.name, n.ifname, "adding", nullptr});
    write_state(p.pod_dirfd, s);  // the intent first: a kill -9 during ADD leaves a DEL to do
    crashpoint("net:before-add");
    {
      FileLock lock = bridges_of(n).empty() ? FileLock() : network_lock(n);
      s.networks.back().result = add_list(n.conflist, invocation(p, n, netns), runtime_config(n), what_of(n));
    }
    s.networks.back().state = "added";
    write_state(p.pod_dirfd, s);
  }
  lo_child.finish();
  return s;
}

void teardown(const Place& p, const std::vector<contract::NetworkAttachment>& nets) {
  const std::string path = p.netns_path();
  NetState s = read_state(p.pod_dirfd);
  // DEL needs the interfaces to find what to remove (ipMasq rules are found
  // through the pod's addresses): the namespace while it exists, else "".
  const std::string netns = is_netns_mount(path) ? path : "";
  for (size_t i = s.networks.size(); i-- > 0;) {
    Joined& j = s.networks[i];
    if (j.state == "deleted") continue;
    const contract::NetworkAttachment* n = find(nets, j);
    if (!n) throw invalid_error(std::string(kNetState) + ": network " + j.name + " (" + j.ifname + ") is not in runtime.json");
    {
      FileLock lock = bridges_of(*n).empty() ? FileLock() : network_lock(*n);
      del_list(n->conflist, invocation(p, *n, netns), runtime_config(*n), j.result, what_of(*n));
      remove_idle_bridges(*n);
    }
    j.state = "deleted";
    write_state(p.pod_dirfd, s);
    crashpoint("net:after-del");
  }
  unmount_netns(path);
  in_host_mntns(p, [&] { unmount_netns(path); }, "unmounting " + path);
  if (::unlinkat(p.pod_dirfd, kNetns, 0) < 0 && errno != ENOENT) throw_sys("cannot remove " + path);
}

std::vector<CheckOutcome> check(const Place& p, const std::vector<contract::NetworkAttachment>& nets) {
  const std::string path = p.netns_path();
  if (!is_netns_mount(path)) throw Error("the pod has no network namespace at " + path + " (it is not running)");
  std::vector<CheckOutcome> out;
  for (const auto& j : read_state(p.pod_dirfd).networks) {
    if (j.state != "added") continue;
    CheckOutcome o{j.name, j.ifname, ""};
    const contract::NetworkAttachment* n = find(nets, j);
    try {
      if (!n) throw invalid_error(std::string(kNetState) + ": network " + j.name + " is not in runtime.json");
      check_list(n->conflist, invocation(p, *n, path), runtime_config(*n), j.result, what_of(*n));
    } catch (const Error& e) {
      o.error = e.what();
    }
    out.push_back(std::move(o));
  }
  return out;
}

std::string resolv_conf_from(const NetState& s) {
  for (const auto& n : s.networks) {
    if (n.result.is_null()) continue;
    const Result r = parse_result(n.result, "network " + n.name);
    if (r.nameservers.empty()) continue;
    std::string out;
    for (const auto& ns : r.nameservers) out += "nameserver " + ns + "\n";
    std::vector<std::string> search = r.search;
    if (search.empty() && !r.domain.empty()) search.push_back(r.domain);
    if (!search.empty()) {
      out += "search";
      for (const auto& d : search) out += " " + d;
      out += "\n";
    }
    if (!r.options.empty()) {
      out += "options";
      for (const auto& o : r.options) out += " " + o;
      out += "\n";
    }
    return out;
  }
  return "";
}

}  // namespace pod::cni
