// The public API's calls inside a running pod: enter (exec in place) and
// exec (fork, run, wait), both through the stage1 enter entrypoint.
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "api/impl.hpp"
#include "contract/poddir.hpp"
#include "pods/walk.hpp"
#include "stage1abi/stage1.hpp"
#include "util/fs.hpp"
#include "util/process.hpp"

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

ExecResult Runtime::exec_capture(const std::string& uuid, const std::string& app, const std::vector<std::string>& cmd,
                                 std::optional<std::chrono::milliseconds> timeout) {
  return api::guarded([&] {
    EnterCall c = enter_call(impl_->store, uuid, app, cmd, false, impl_->log != nullptr);
    std::vector<std::string> argv = {stage1::entrypoint_path(c.pod, c.entrypoint)};
    argv.insert(argv.end(), c.args.begin(), c.args.end());
    auto [out_r, out_w] = make_pipe();
    auto [err_r, err_w] = make_pipe();
    ChildOptions o;
    o.cwd = c.pod.path();
    o.in = Redirect::null();
    o.out = Redirect::to_fd(out_w.get());
    o.err = Redirect::to_fd(err_w.get());
    Child child = Child::start(argv, o);
    out_w.reset();
    err_w.reset();
    ExecResult r;
    const auto deadline = timeout ? std::optional(std::chrono::steady_clock::now() + *timeout) : std::nullopt;
    std::vector<std::pair<UniqueFd*, std::string*>> open = {{&out_r, &r.out}, {&err_r, &r.err}};
    while (!open.empty()) {
      std::vector<pollfd> p;
      for (auto& [fd, _] : open) p.push_back({fd->get(), POLLIN, 0});
      int wait_ms = -1;
      if (deadline) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(*deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) {
          r.timed_out = true;
          break;
        }
        wait_ms = static_cast<int>(left.count());
      }
      if (::poll(p.data(), p.size(), wait_ms) < 0 && errno != EINTR) throw_sys("poll");
      for (size_t i = p.size(); i-- > 0;) {
        if (!(p[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
        char buf[65536];
        ssize_t n = ::read(p[i].fd, buf, sizeof buf);
        if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
        if (n <= 0) {
          open.erase(open.begin() + static_cast<long>(i));
          continue;
        }
        if (open[i].second->size() < (16u << 20)) open[i].second->append(buf, static_cast<size_t>(n));
      }
    }
    if (r.timed_out) child.kill_and_wait();
    r.exit_code = child.wait();
    return r;
  });
}

}  // namespace pod
