// `pod cri [--listen unix://PATH] ...`: the Kubernetes CRI server over this
// data dir (Documentation/kubernetes.md). It is a program of its own, pod-cri
// (it links gRPC, which `pod` does not load): this verb checks the flags and
// execs it in place of itself.
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>

#include "config.h"
#include "context.hpp"
#include "cri/options.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"

namespace pod::cli {

namespace {
// pod-cri next to this pod (the build tree), else in the libexec dir.
std::string pod_cri_path() {
  const std::string self = self_exe_path();
  std::string beside = self.substr(0, self.rfind('/') + 1) + "pod-cri";
  if (::access(beside.c_str(), X_OK) == 0) return beside;
  return std::string(POD_LIBEXECDIR) + "/pod-cri";
}
}  // namespace

void register_cri(CLI::App& app, Context& ctx) {
  auto o = std::make_shared<cri::Options>();
  auto* c = app.add_subcommand("cri", "Serve the Kubernetes CRI (runtime and image services) on a unix socket, "
                                      "over this data dir");
  cri::add_flags(*c, *o);
  c->callback([&ctx, o] {
    const std::string exe = pod_cri_path();
    std::vector<std::string> args = {exe, "--dir=" + ctx.data_dir()};
    if (ctx.debug) args.push_back("--debug");
    for (auto& a : cri::to_args(*o)) args.push_back(std::move(a));
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execv(exe.c_str(), argv.data());
    const int err = errno;
    throw Error("cannot run the CRI server " + exe + ": " + std::strerror(err) +
                    (err == ENOENT ? " (this pod was built without gRPC: install libgrpc++-dev and rebuild)" : ""),
                err, err == ENOENT ? ErrorKind::NotFound : ErrorKind::Io);
  });
}

}  // namespace pod::cli
