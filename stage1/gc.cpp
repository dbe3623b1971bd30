// stage1 nspawn flavour: the gc entrypoint.
//
//   gc [--debug] <uuid>        cwd = $P, the pod exited and locked by stage0
//
// Removes what run left outside the pod dir: the pod's cgroups (killing any
// stray process in them first, e.g. after a kill -9 of run), then its CNI
// networks (DEL in reverse order, the netns mount; src/net/cni/podnet.hpp).
// Idempotent; works after a reboot (nothing left to do) and after a kill -9
// of an earlier gc (net.json records what is still to DEL).
#include <unistd.h>

#include <iostream>

#include "cgroupops.hpp"
#include "common.hpp"
#include "contract/runtime.hpp"
#include "net/cni/podnet.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"

using namespace pod;
using namespace pod::stage1;

namespace {

int gc_main(int argc, char** argv) {
  Args args = parse_args(argc, argv, {"--debug"});
  if (args.positional.size() != 1) throw usage_error("usage: gc [--debug] <uuid>");
  const std::string& uuid = args.positional[0];
  if (args.has("--debug"))
    for (const auto& d : pod_cgroup_dirs(uuid)) std::cerr << "gc: removing cgroup " << d << "\n";
  thaw_pod_cgroups(uuid);  // a paused pod's processes die only once thawed (v1 freezer)
  remove_pod_cgroups(uuid);
  ::unlink(kNotifySocket);
  UniqueFd pod = open_dir(".");
  const contract::Runtime rt = contract::parse_runtime(try_read_file_at(pod.get(), poddir::kRuntime).value_or(""));
  if (!rt.networks.empty() || exists_at(pod.get(), cni::kNetns)) {
    if (args.has("--debug")) std::cerr << "gc: leaving the pod's networks\n";
    cni::teardown({pod.get(), fd_path(pod.get()), uuid, -1}, rt.networks);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) { return guarded_main("gc", gc_main, argc, argv); }
