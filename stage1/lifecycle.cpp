// stage1 nspawn flavour: the kill, pause, resume and stats entrypoints
// (Documentation/stage1-abi.md), one binary chosen by the name it runs as.
//
//   kill [--debug] --signal=N [--app=NAME] <uuid>   the init signals the app(s); prints {"apps": {name: outcome}}
//   pause [--debug] <uuid>                          freezes the pod's cgroups
//   resume [--debug] <uuid>                         thaws them
//   stats [--debug] <uuid>                          prints the pod's and the apps' usage (JSON): from the
//                                                   cgroups, else (rootless) the init's process tree
//
// cwd = $P. kill and stats ask the pod init on its control socket
// (init/control.hpp); pause and resume use the cgroups (cgroupops.hpp).
#include <fcntl.h>
#include <libgen.h>

#include <cstring>
#include <iostream>

#include "cgroupops.hpp"
#include "common.hpp"
#include "contract/manifest.hpp"
#include "init/control.hpp"
#include "stage1abi/stage1.hpp"
#include "util/fs.hpp"

using namespace pod;
using namespace pod::stage1;
using nlohmann::json;

namespace {

std::string the_uuid(const Args& a, const char* usage) {
  if (a.positional.size() != 1) throw usage_error(std::string("usage: ") + usage);
  return a.positional[0];
}

int kill_main(int argc, char** argv) {
  Args a = parse_args(argc, argv, {"--debug", "--signal", "--app"});
  the_uuid(a, "kill [--debug] --signal=N [--app=NAME] <uuid>");
  auto sig = a.value("--signal");
  if (!sig) throw usage_error("kill: --signal=N is required");
  json req = {{"op", "kill"}, {"signal", std::stoi(*sig)}};
  if (auto app = a.value("--app")) req["app"] = *app;
  std::cout << init::control_request(kControlSocket, req).dump() << "\n";
  return 0;
}

int freeze_main(int argc, char** argv, bool frozen) {
  Args a = parse_args(argc, argv, {"--debug"});
  const std::string uuid = the_uuid(a, frozen ? "pause [--debug] <uuid>" : "resume [--debug] <uuid>");
  if (auto why = why_not_freezable(uuid)) {
    if (!frozen) return 0;  // nothing can be frozen: nothing to thaw
    std::cerr << "cannot pause: " << *why << "\n";
    return kPauseRefused;  // nothing was touched (stage1-abi.md)
  }
  set_pod_frozen(uuid, frozen);
  return 0;
}
int pause_main(int argc, char** argv) { return freeze_main(argc, argv, true); }
int resume_main(int argc, char** argv) { return freeze_main(argc, argv, false); }

int stats_main(int argc, char** argv) {
  Args a = parse_args(argc, argv, {"--debug"});
  const std::string uuid = the_uuid(a, "stats [--debug] <uuid>");
  const auto names = contract::parse_pod_manifest(read_file_at(AT_FDCWD, poddir::kManifest)).app_names();
  // A paused pod's init is frozen too: then only the cgroups' numbers.
  json apps = json::object();
  if (!exists_at(AT_FDCWD, poddir::kPaused)) apps = init::control_request(kControlSocket, {{"op", "stats"}})["apps"];
  CgroupUsage cg = pod_cgroup_usage(uuid, names);
  for (auto& [name, e] : apps.items()) {
    e["source"] = "processes";
    if (auto it = cg.apps.find(name); it != cg.apps.end() && e.value("running", false)) {
      e.update(it->second);
      e["source"] = "cgroup";
    }
  }
  json pod = cg.pod;
  pod["source"] = "cgroup";
  // No cgroup of its own (a rootless pod): the pod init's process tree, as the kvm flavour counts its VMM's.
  if (cg.pod.empty())
    if (auto pid = read_pid(AT_FDCWD)) {
      const init::TreeUsage u = init::tree_usage(*pid);
      if (u.pids > 0)
        pod = {{"cpuNs", u.cpu_ns}, {"memoryBytes", u.memory_bytes}, {"pids", u.pids}, {"source", "processes"}};
    }
  std::cout << json{{"pod", pod}, {"apps", apps}}.dump() << "\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string name = ::basename(argv[0]);
  if (name == "kill") return guarded_main("kill", kill_main, argc, argv);
  if (name == "pause") return guarded_main("pause", pause_main, argc, argv);
  if (name == "resume") return guarded_main("resume", resume_main, argc, argv);
  if (name == "stats") return guarded_main("stats", stats_main, argc, argv);
  std::cerr << name << ": run me as kill, pause, resume or stats\n";
  return 2;
}
