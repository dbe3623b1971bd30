// stage1 nspawn flavour: the stop entrypoint.
//
//   stop [--force] <uuid>      cwd = $P
//
// Graceful: SIGTERM to the pod init, which forwards it to the apps and kills
// what is left after its stop timeout. --force: SIGKILL to the pod init, which
// takes the whole pid namespace with it. Returns once the signal is sent.
#include <signal.h>

#include <cerrno>

#include "common.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"

using namespace pod;
using namespace pod::stage1;

namespace {

int stop_main(int argc, char** argv) {
  Args args = parse_args(argc, argv, {"--force", "--debug"});
  if (args.positional.size() != 1) throw usage_error("usage: stop [--force] <uuid>");
  const std::string& uuid = args.positional[0];
  UniqueFd pod = open_dir(".");
  auto pid = read_pid(pod.get());
  if (!pid) throw Error("pod " + uuid + " has no pid file: not started yet, or not by this stage1");
  if (!pid_is_pods(*pid, uuid, pod.get())) return 0;  // already gone
  bool force = args.has("--force");
  if (force) write_file_at(pod.get(), kForceStopped, "", 0644, Durability::kVolatile);
  if (::kill(*pid, force ? SIGKILL : SIGTERM) < 0 && errno != ESRCH) throw_sys("cannot signal the pod init");
  return 0;
}

}  // namespace

int main(int argc, char** argv) { return guarded_main("stop", stop_main, argc, argv); }
