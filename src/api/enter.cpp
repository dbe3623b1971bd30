// The public API's calls inside a running pod: enter (exec in place) and
// exec (fork, run, wait), both through the stage1 enter entrypoint.
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "api/impl.hpp"
#include "contract/poddir.hpp"
#include "pods/walk.hpp"
#include "stage1abi/stage1.hpp"
#include "util/fs.hpp"

namespace pod {

namespace {

std::string pick_app(const Pod& pod, const std::string& wanted) {
  std::vector<std::string> names;
  for (const auto& a : read_pod_info(pod, pod.state(), InfoDetail::Summary).apps) names.push_back(a.name);
  if (!wanted.empty()) {
    if (std::find(names.begin(), names.end(), wanted) == names.end())
      throw usage_error("pod " + pod.uuid() + " has no app named \"" + wanted + "\"");
    return wanted;
  }
  if (names.size() != 1) throw usage_error("pod " + pod.uuid() + " has several apps; choose one with --app");
  return names.front();
}

// The enter entrypoint's path and argv for `cmd` in `app` of a running pod.
struct EnterCall {
  Pod pod;
  std::string entrypoint;
  std::vector<std::string> args;
};

EnterCall enter_call(const Store& store, const std::string& uuid, const std::string& app,
                     const std::vector<std::string>& cmd, bool tty, bool debug) {
  Pod pod = lookup_pod(store, uuid);
  // The pid file appears shortly after start; wait a little for it.
  for (int i = 0; i < 100 && !exists_at(pod.fd(), poddir::kPid); ++i) {
    if (pod.state() != PodState::Running) break;
    api::sleep_ms(20);
  }
  if (PodState s = pod.state(); s != PodState::Running)
    throw conflict_error("cannot enter pod " + pod.uuid() + ": it is " + state_name(s), EINVAL);
  auto eps = stage1::pod_entrypoints(pod);
  if (eps.enter.empty()) throw Error("the stage1 of pod " + pod.uuid() + " has no enter entrypoint", 0, ErrorKind::Stage1);
  std::vector<std::string> args;
  if (debug) args.push_back("--debug");
  args.push_back("--app=" + pick_app(pod, app));
  if (tty) args.push_back("--tty");
  args.push_back(pod.uuid());
  args.push_back("--");
  if (cmd.empty()) args.push_back("/bin/sh");
  args.insert(args.end(), cmd.begin(), cmd.end());
  return {std::move(pod), eps.enter, std::move(args)};
}

}  // namespace

void Runtime::enter_pod(const std::string& uuid, const std::string& app, const std::vector<std::string>& cmd, bool tty) {
  api::guarded([&] {
    EnterCall c = enter_call(impl_->store, uuid, app, cmd, tty, impl_->log != nullptr);
    stage1::exec(c.pod, c.entrypoint, c.args, {"POD_STAGE1_ABI=1"});
  });
  throw Error("bug: exec returned", 0, ErrorKind::Internal);
}

int Runtime::exec_in_pod(const std::string& uuid, const std::string& app, const std::vector<std::string>& cmd, bool tty) {
  return api::guarded([&] {
    EnterCall c = enter_call(impl_->store, uuid, app, cmd, tty, impl_->log != nullptr);
    return stage1::call(c.pod, c.entrypoint, c.args);
  });
}

}  // namespace pod
