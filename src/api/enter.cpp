// The public API's calls inside a running pod: enter (exec in place) and
// exec (fork, run, wait), both through the stage1 enter entrypoint.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <thread>

#include <nlohmann/json.hpp>

#include "api/impl.hpp"
#include "appc/image_manifest.hpp"
#include "contract/poddir.hpp"
#include "net/cni/podnet.hpp"
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

// The enter entrypoint started for `c` with `o`'s stdio, in a process group of its own: the command it
// starts inside the pod stays in that group (unless it makes a session of its own, as with a tty), so
// kill_group reaches it across the pod's pid namespace.
Child start_enter(const EnterCall& c, ChildOptions o) {
  std::vector<std::string> argv = {stage1::entrypoint_path(c.pod, c.entrypoint)};
  argv.insert(argv.end(), c.args.begin(), c.args.end());
  o.cwd = c.pod.path();
  o.new_process_group = true;
  return Child::start(argv, o);
}

void kill_group(Child& child) {
  if (child.running()) ::kill(-child.pid(), SIGKILL);
  child.kill_and_wait();
}

Redirect redirect(int fd) { return fd < 0 ? Redirect::null() : Redirect::to_fd(fd); }

}  // namespace

struct ExecProcess::Impl {
  Child child;
};

ExecProcess::ExecProcess() = default;
ExecProcess::ExecProcess(ExecProcess&&) noexcept = default;
ExecProcess& ExecProcess::operator=(ExecProcess&&) noexcept = default;
ExecProcess::~ExecProcess() {
  if (impl_) kill();
}

std::optional<int> ExecProcess::wait_for(std::chrono::milliseconds timeout) {
  if (!impl_) throw Error("bug: wait_for on an empty ExecProcess", 0, ErrorKind::Internal);
  if (auto code = impl_->child.exit_code()) return code;
  return impl_->child.wait_for(static_cast<int>(timeout.count()));
}

void ExecProcess::kill() {
  if (impl_) kill_group(impl_->child);
}

ExecProcess Runtime::exec_stream(const std::string& uuid, const std::string& app, const std::vector<std::string>& cmd,
                                 const ExecIo& io) {
  return api::guarded([&] {
    if (cmd.empty()) throw usage_error("exec: no command given");
    EnterCall c = enter_call(impl_->store, uuid, app, cmd, io.tty, impl_->log != nullptr);
    ChildOptions o;
    o.in = redirect(io.in);
    o.out = redirect(io.out);
    o.err = redirect(io.err);
    ExecProcess p;
    p.impl_ = std::make_unique<ExecProcess::Impl>();
    p.impl_->child = start_enter(c, o);
    return p;
  });
}

int Runtime::connect_in_pod(const std::string& uuid, int port) {
  return api::guarded([&] {
    if (port < 1 || port > 65535) throw usage_error("port " + std::to_string(port) + " is not a TCP port (1-65535)");
    Pod pod = lookup_pod(impl_->store, uuid);
    if (PodState s = pod.state(); s != PodState::Running)
      throw conflict_error("cannot connect into pod " + pod.uuid() + ": it is " + state_name(s), EINVAL);
    // The pod's network namespace: the one CNI set up, else its init's (a pod on the host's network), when
    // the stage1 says its apps live in it (a VM's apps have a network of their own).
    const nlohmann::json s1 = nlohmann::json::parse(read_file_at(pod.fd(), poddir::kStage1Manifest, 1 << 20));
    if (appc::manifest_annotation(s1, stage1::kAnnNetns).value_or("") != "shared")
      throw Error("cannot connect into pod " + pod.uuid() + ": its stage1 (" + s1.value("name", "stage1") +
                      ") does not declare " + stage1::kAnnNetns + " shared (its apps are not in a network "
                      "namespace of the host)",
                  ENOTSUP);
    UniqueFd ns(::openat(pod.fd(), cni::kNetns, O_RDONLY | O_CLOEXEC));
    if (!ns) {
      auto pid = read_pod_info(pod, pod.state(), InfoDetail::Summary).pid;
      if (!pid) throw conflict_error("pod " + pod.uuid() + " has no running init", ESRCH);
      const std::string path = "/proc/" + std::to_string(*pid) + "/ns/net";
      ns = UniqueFd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
      if (!ns) throw_sys("cannot open the network namespace of pod " + pod.uuid() + " (" + path + ")");
    }
    // setns moves only the calling thread: a thread of its own joins the namespace and makes the socket there.
    int fd = -1, err = 0;
    std::string what;
    std::thread([&] {
      if (::unshare(CLONE_FS) < 0 || ::setns(ns.get(), CLONE_NEWNET) < 0) {
        err = errno, what = "cannot join the network namespace of pod " + pod.uuid();
        return;
      }
      fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      if (fd < 0) {
        err = errno, what = "socket";
        return;
      }
      sockaddr_in a{};
      a.sin_family = AF_INET;
      a.sin_port = htons(static_cast<uint16_t>(port));
      a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) < 0) {
        err = errno, what = "cannot connect to 127.0.0.1:" + std::to_string(port) + " in pod " + pod.uuid();
        ::close(fd);
        fd = -1;
      }
    }).join();
    if (fd < 0) throw Error(what + ": " + std::strerror(err), err, ErrorKind::Io);
    return fd;
  });
}

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
    auto [out_r, out_w] = make_pipe();
    auto [err_r, err_w] = make_pipe();
    ChildOptions o;
    o.in = Redirect::null();
    o.out = Redirect::to_fd(out_w.get());
    o.err = Redirect::to_fd(err_w.get());
    Child child = start_enter(c, o);
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
    if (r.timed_out) kill_group(child);
    r.exit_code = child.wait();
    return r;
  });
}

}  // namespace pod
