// The run entrypoint's common part, shared by the flavours whose pod init runs
// as a process on the host (nspawn, native): read the pod, prepare the
// stage1-state files, start the payload through a flavour's launcher, relay
// readiness and the journal, forward stop signals to the init and turn the
// init's exit record into run's exit status (Documentation/stage1-abi.md).
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "contract/manifest.hpp"
#include "contract/runtime.hpp"
#include "util/process.hpp"

namespace pod::stage1 {

struct RunContext {
  bool debug = false;
  bool interactive = false;
  std::string uuid;
  int lock_fd = -1;      // the locked pod dir ($P), kept for the life of the pod
  std::string pod_path;  // $P
  contract::Runtime runtime;
  contract::PodManifest manifest;
  bool copy_output = true;  // the init copies the apps' output to its stdout/stderr
};

// The environment the pod init needs from its flavour, as NAME=value: where
// to report (POD_INIT_NOTIFY), the apps' notify sockets, output copying.
std::vector<std::string> init_environment(const RunContext& o);

// Starts the payload whose PID 1 (or whose child) is the pod init, as a
// child of this process. The init is given init_environment(o).
using Launcher = std::function<Child(const RunContext& o)>;

// main() of a run entrypoint: `run [--debug] [--interactive] <uuid>` with
// cwd = $P and POD_LOCK_FD set. A failure of our own is recorded in
// $P/failure for `pod status`. `payload_name` names the launched process in
// the failure record when it ends without the init's exit record.
int run_entrypoint(int argc, char** argv, const char* payload_name, const Launcher& launch);

}  // namespace pod::stage1
