#include "stage1abi/stage1.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "contract/poddir.hpp"
#include "pods/pod.hpp"
#include "util/error.hpp"
#include "appc/image_manifest.hpp"
#include "util/fs.hpp"
#include "util/process.hpp"

extern char** environ;

namespace pod::stage1 {

Entrypoints parse_entrypoints(const nlohmann::json& m) {
  Entrypoints e;
  e.run = appc::manifest_annotation(m, kAnnRun).value_or("");
  e.enter = appc::manifest_annotation(m, kAnnEnter).value_or("");
  e.stop = appc::manifest_annotation(m, kAnnStop).value_or("");
  e.gc = appc::manifest_annotation(m, kAnnGc).value_or("");
  e.kill = appc::manifest_annotation(m, kAnnKill).value_or("");
  e.pause = appc::manifest_annotation(m, kAnnPause).value_or("");
  e.resume = appc::manifest_annotation(m, kAnnResume).value_or("");
  e.stats = appc::manifest_annotation(m, kAnnStats).value_or("");
  e.app_ops = appc::manifest_annotation(m, kAnnAppOps).value_or("");
  e.flavor = appc::manifest_annotation(m, kAnnFlavor).value_or("");
  std::string v = appc::manifest_annotation(m, kAnnVersion).value_or("");
  const std::string name = m.value("name", "?");
  if (e.run.empty()) throw Error("stage1 image " + name + " has no \"" + kAnnRun + "\" annotation; it is not a stage1");
  try {
    e.interface_version = v.empty() ? 1 : std::stoi(v);
  } catch (const std::exception&) {
    throw Error("stage1 image " + name + ": bad \"" + kAnnVersion + "\" value \"" + v + "\"");
  }
  if (e.interface_version > kInterfaceVersion)
    throw Error("stage1 image " + name + " needs stage1 interface version " + std::to_string(e.interface_version) +
                "; this pod supports " + std::to_string(kInterfaceVersion) + ": upgrade pod");
  for (auto* p : {&e.run, &e.enter, &e.stop, &e.gc, &e.kill, &e.pause, &e.resume, &e.stats, &e.app_ops})
    if (!p->empty() && ((*p)[0] != '/' || p->find("..") != std::string::npos))
      throw Error("stage1 image " + name + ": entrypoint \"" + *p + "\" must be an absolute path inside its rootfs");
  return e;
}

std::string entrypoint_path(const Pod& pod, const std::string& ep) {
  if (ep.empty()) throw Error("bug: empty entrypoint");
  auto tree = try_read_file_at(pod.fd(), poddir::kStage1Tree, 4096);
  if (tree && !tree->empty()) {
    while (!tree->empty() && tree->back() == '\n') tree->pop_back();
    return *tree + "/rootfs" + ep;
  }
  return pod.path() + "/" + std::string(poddir::kStage1Rootfs) + ep;
}

Entrypoints pod_entrypoints(const Pod& pod) {
  auto text = try_read_file_at(pod.fd(), poddir::kStage1Manifest, 1 << 20);
  if (!text) throw Error("pod " + pod.uuid() + " has no stage1 manifest (was it prepared by pod?)");
  auto j = nlohmann::json::parse(*text, nullptr, false);
  if (j.is_discarded()) throw Error("pod " + pod.uuid() + ": stage1 manifest is not valid JSON");
  return parse_entrypoints(j);
}

namespace {
std::vector<char*> argv_of(const std::string& path, const std::vector<std::string>& args) {
  std::vector<char*> v;
  v.push_back(const_cast<char*>(path.c_str()));
  for (const auto& a : args) v.push_back(const_cast<char*>(a.c_str()));
  v.push_back(nullptr);
  return v;
}
}  // namespace

int call(const Pod& pod, const std::string& ep, const std::vector<std::string>& args, bool quiet_stdout) {
  const std::string path = entrypoint_path(pod, ep);
  std::vector<std::string> argv = {path};
  argv.insert(argv.end(), args.begin(), args.end());
  ChildOptions o;
  o.cwd = pod.path();
  if (quiet_stdout) o.out = Redirect::null();
  try {
    return Child::start(argv, o).wait();
  } catch (const Error& e) {
    throw e.with_context("stage1 entrypoint " + ep);
  }
}

std::pair<int, std::string> call_output(const Pod& pod, const std::string& ep, const std::vector<std::string>& args,
                                        std::string* err) {
  std::vector<std::string> argv = {entrypoint_path(pod, ep)};
  argv.insert(argv.end(), args.begin(), args.end());
  ChildOptions o;
  o.cwd = pod.path();
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) < 0) throw_sys("pipe");
  UniqueFd r(fds[0]), w(fds[1]);
  o.out = Redirect::to_fd(w.get());
  UniqueFd errfile;  // a file, not a pipe: read once the entrypoint has exited, it cannot block it
  if (err) {
    errfile = UniqueFd(::memfd_create("stage1-stderr", MFD_CLOEXEC));
    if (!errfile) throw_sys("memfd_create");
    o.err = Redirect::to_fd(errfile.get());
  }
  try {
    Child c = Child::start(argv, o);
    w.reset();
    std::string out;
    char buf[65536];
    for (;;) {
      ssize_t n = ::read(r.get(), buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      if (out.size() < (16u << 20)) out.append(buf, static_cast<size_t>(n));
    }
    const int status = c.wait();
    if (err) {
      err->clear();
      ssize_t n;
      while ((n = ::pread(errfile.get(), buf, sizeof buf, static_cast<off_t>(err->size()))) > 0 && err->size() < (1u << 20))
        err->append(buf, static_cast<size_t>(n));
    }
    return {status, out};
  } catch (const Error& e) {
    throw e.with_context("stage1 entrypoint " + ep);
  }
}

std::string required_entrypoint(const Pod& pod, std::string Entrypoints::*ep, const char* what) {
  Entrypoints eps = pod_entrypoints(pod);
  if ((eps.*ep).empty())
    throw Error("the stage1 of pod " + pod.uuid() + " has no \"" + what + "\" entrypoint: it cannot do that", ENOTSUP);
  return eps.*ep;
}

void exec(const Pod& pod, const std::string& ep, const std::vector<std::string>& args,
          const std::vector<std::string>& extra_env) {
  exec_path(pod, entrypoint_path(pod, ep), args, extra_env);
}

void exec_path(const Pod& pod, const std::string& path, const std::vector<std::string>& args,
               const std::vector<std::string>& extra_env) {
  const std::string cwd = pod.path();
  if (::chdir(cwd.c_str()) < 0) throw_sys("cannot enter pod directory " + cwd);
  for (const auto& kv : extra_env) ::putenv(const_cast<char*>(strdup(kv.c_str())));
  auto argv = argv_of(path, args);
  ::execv(path.c_str(), argv.data());
  throw_sys("cannot execute stage1 entrypoint " + path);
}

std::function<void(Pod&)> teardown(bool debug) {
  return [debug](Pod& p) {
    if (!exists_at(p.fd(), poddir::kStage1Manifest)) return;  // never got a stage1: nothing to tear down
    auto eps = pod_entrypoints(p);
    if (eps.gc.empty()) return;
    std::vector<std::string> args;
    if (debug) args.push_back("--debug");
    args.push_back(p.uuid());
    int st = call(p, eps.gc, args, /*quiet_stdout=*/true);
    if (st != 0) throw Error("stage1 gc entrypoint exited with status " + std::to_string(st));
  };
}

}  // namespace pod::stage1
