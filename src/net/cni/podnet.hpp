// A pod's CNI networks, for every stage1 flavour that joins them
// (Documentation/networking.md, "Teardown and crash safety"):
//
//   $P/netns     the pod's network namespace, a bind mount of nsfs made in
//                the host's mount namespace (it outlives the pod's processes,
//                so that DEL can still find the interfaces it must remove)
//   $P/net.json  one entry per network, written (atomically) before its ADD
//                ("adding"), after it ("added", with the result) and after
//                its DEL ("deleted")
//
// Every step is recorded before the next starts, so a kill -9 anywhere leaves
// something teardown() finishes: it DELs every network not "deleted" in
// reverse order (DEL is idempotent), then removes the netns mount and file.
#pragma once
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "contract/runtime.hpp"

namespace pod::cni {

inline constexpr const char* kNetns = "netns";
inline constexpr const char* kNetState = "net.json";
inline constexpr const char* kLockDir = "/run/pod/cni-locks";  // <network>.lock: joining/leaving a bridge

struct Joined {
  std::string name, ifname;
  std::string state;             // adding | added | deleted
  nlohmann::json result;         // the ADD's result (null until added)
};
struct NetState {
  std::vector<Joined> networks;
};
NetState read_state(int pod_dirfd);  // missing file: no networks
void write_state(int pod_dirfd, const NetState& s);
nlohmann::json to_json(const NetState& s);

// Where a pod's processes and the host differ: the mount namespace the netns
// mount must live in (an fd of the host's, -1 when ours is the host's).
struct Place {
  int pod_dirfd = -1;
  std::string pod_path;
  std::string uuid;  // the CNI container ID
  int host_mntns_fd = -1;
  std::string netns_path() const { return pod_path + "/" + kNetns; }
};

// Make the pod's network namespace, bind-mounted on $P/netns in the host's
// mount namespace (and in ours, when they differ). Brings lo up (loopback plugin).
void create_netns(const Place& p);
// ADD every network in order, recording each in net.json. Throws on the first
// failure (what was added stays recorded for teardown()).
NetState attach(const Place& p, const std::vector<contract::NetworkAttachment>& nets);
// DEL what net.json records (reverse order), then remove the netns mount and
// file. Idempotent; works after a kill -9 at any point, and after a reboot.
void teardown(const Place& p, const std::vector<contract::NetworkAttachment>& nets);

// CNI CHECK of every network net.json records as added, in the pod's netns
// (the pod must be running): per network, "" when its plugins agree that
// the interface is as ADD left it, else the failure.
struct CheckOutcome {
  std::string name, ifname, error;
};
std::vector<CheckOutcome> check(const Place& p, const std::vector<contract::NetworkAttachment>& nets);

// The resolv.conf the pod gets from its networks' results (the first with
// nameservers), "" when none has any.
std::string resolv_conf_from(const NetState& s);

// "$POD_HOST_MNTNS_FD", as stage0 passes it to run (-1 when unset).
int host_mntns_fd_from_env();

}  // namespace pod::cni
