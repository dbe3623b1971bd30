// Pod hooks (--hook prestart|poststart|poststop=CMD): host commands stage0
// runs with the pod's state as JSON on stdin, in the shape of the OCI
// runtime state (ociVersion, id, status, pid, bundle = the pod dir,
// annotations = the pod manifest's). Documentation/cli.md, pod-lifecycle.md.
//
// prestart runs in `run`/`run-prepared`/`restart` before the stage1 starts:
// a failure aborts the start with the hook's output in the error. poststart
// and poststop are run by a watcher process forked then (the stage1 is exec'd
// in place of stage0): poststart once the pod is ready, poststop once its
// stage1 has let go of the pod lock, under the lock it takes then (so that
// gc or rm do not remove the pod under the hook; bounded by the timeout). A
// failing poststart or poststop is recorded (hooks/<when>) and shown by
// `pod status`; it blocks nothing.
#pragma once
#include <pod/spec.hpp>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace pod {
class Pod;
}

namespace pod::run {

// hooks.json of a PodSpec (prepare); "" when it has none.
std::string hooks_json(const PodSpec& spec);
// --hook WHEN=CMD → HookSpec (usage errors name the flag).
HookSpec parse_hook_flag(const std::string& flag);

// Run the pod's prestart hooks (throws, with the output, when one fails);
// then, when it has poststart/poststop hooks, fork their watcher. The
// caller (run_pod) holds the pod lock and is about to exec the stage1.
void run_prestart_and_watch(const Pod& pod);

}  // namespace pod::run
