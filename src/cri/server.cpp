#include "cri/server.hpp"

// The generated CRI header first: its Signal enum has values named SIGTERM, … which <signal.h>'s macros
// would replace.
#include "cri/images.hpp"
#include "cri/runtime.hpp"
#include "cri/stream_server.hpp"

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <grpcpp/grpcpp.h>
#include <memory>

#include "util/error.hpp"
#include "util/fs.hpp"
#include "util/lock.hpp"

namespace pod::cri {

namespace {

std::string socket_path(const std::string& listen) {
  const std::string scheme = "unix://";
  if (listen.rfind(scheme, 0) != 0 || listen.size() == scheme.size() || listen[scheme.size()] != '/')
    throw usage_error("--listen \"" + listen + "\": give unix:///ABSOLUTE/PATH (the CRI is served on a unix socket)");
  return listen.substr(scheme.size());
}

// Signals that end the server, blocked in every thread (gRPC's threads inherit the mask) and taken by sigwait.
struct BlockedSignals {
  sigset_t set, old;
  BlockedSignals() {
    sigemptyset(&set);
    for (int s : {SIGTERM, SIGINT, SIGHUP}) sigaddset(&set, s);
    if (int rc = pthread_sigmask(SIG_BLOCK, &set, &old); rc != 0) throw Error("cannot block signals", rc);
  }
  ~BlockedSignals() { pthread_sigmask(SIG_SETMASK, &old, nullptr); }
  BlockedSignals(const BlockedSignals&) = delete;
  BlockedSignals& operator=(const BlockedSignals&) = delete;
};

// Removes the socket file when the server stops (while its lock is still held).
struct SocketFile {
  std::string path;
  ~SocketFile() { ::unlink(path.c_str()); }
};

}  // namespace

void serve(const Env& env, const std::function<void(const std::string&)>& listening) {
  const std::string path = socket_path(env.opts.listen);
  const auto slash = path.rfind('/');
  const std::string dir = slash == 0 ? "/" : path.substr(0, slash), name = path.substr(slash + 1);
  UniqueFd root = open_dir("/");
  UniqueFd dirfd = dir == "/" ? open_dir("/") : mkdirs_at(root.get(), dir.substr(1), 0755);
  FileLock lock = FileLock::try_acquire(dirfd.get(), name + ".lock", LockMode::Exclusive);
  if (!lock)
    throw Error("another pod cri serves " + path + " (its lock " + path + ".lock is held)", EBUSY, ErrorKind::Conflict)
        .with_item(path);
  if (::unlinkat(dirfd.get(), name.c_str(), 0) < 0 && errno != ENOENT)  // a stale socket of a server that died
    throw_sys("cannot remove the stale socket " + path);

  BlockedSignals sigs;
  StreamServer streams(env);
  RuntimeService runtime(env, &streams);
  ImageService images(env);
  grpc::ServerBuilder b;
  b.AddListeningPort("unix:" + path, grpc::InsecureServerCredentials());
  b.RegisterService(&runtime);
  b.RegisterService(&images);
  b.SetMaxReceiveMessageSize(16 << 20);
  b.SetMaxSendMessageSize(16 << 20);
  const mode_t old_umask = ::umask(0177);  // the socket is created 0600
  std::unique_ptr<grpc::Server> server = b.BuildAndStart();
  ::umask(old_umask);
  if (!server) throw Error("cannot listen on " + env.opts.listen + " (gRPC refused the address)", 0, ErrorKind::Io);
  SocketFile sock{path};
  if (listening) listening(env.opts.listen + ", streaming on " + streams.base_url());
  int sig = 0;
  sigwait(&sigs.set, &sig);
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
  server->Wait();
}

}  // namespace pod::cri
