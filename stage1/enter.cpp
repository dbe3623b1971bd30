// stage1 nspawn flavour: the enter entrypoint.
//
//   enter [--debug] --app=<name> [--tty] <uuid> -- <cmd> [args...]    cwd = $P
//
// Joins the pod init's cgroup and its ipc, uts, net, pid, cgroup and mount
// namespaces, then starts `/init enter --app=<name> -- cmd...` inside: the
// init applies the app's chroot, environment, capabilities, seccomp and
// credentials exactly as for the app itself. Exits with the command's status.
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <iostream>

#include "common.hpp"
#include "resources.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"
#include "util/process.hpp"

using namespace pod;
using namespace pod::stage1;

namespace {

pid_t g_child = 0;
void forward(int sig) {
  if (g_child > 0) ::kill(g_child, sig);
}

// Move into the init's cgroup2 cgroup and, on a v1 or hybrid host, into the
// pod's cgroups of the v1 resource controllers (those the run entrypoint made
// for the apps' limits), so the entered command is accounted, limited and
// cleaned up with the pod. The init then moves it on into the app's own
// cgroups (init/cgroups.hpp, join_app_cgroups).
void join_cgroups_of(pid_t pid, const std::string& uuid) {
  for (const auto& dir : all_v1_cgroup_dirs(uuid))
    if (::access(dir.c_str(), F_OK) == 0)
      write_file_at(AT_FDCWD, dir + "/cgroup.procs", "0\n", 0644, Durability::kVolatile);
  auto cg = try_read_file_at(AT_FDCWD, "/proc/" + std::to_string(pid) + "/cgroup", 65536);
  if (!cg) return;
  auto pos = cg->find("0::");
  if (pos == std::string::npos) return;
  std::string rel = cg->substr(pos + 3, cg->find('\n', pos) - pos - 3);
  for (const char* base : {"/sys/fs/cgroup/unified", "/sys/fs/cgroup"}) {
    std::string procs = std::string(base) + rel + "/cgroup.procs";
    int fd = ::open(procs.c_str(), O_WRONLY | O_CLOEXEC);
    if (fd < 0) continue;
    (void)!::write(fd, "0\n", 2);
    ::close(fd);
    return;
  }
}

// A rootless pod's init is in a user namespace of its own (Documentation/rootless.md): join it,
// as its owner, before the namespaces it owns. Nothing to do when it is ours already.
void join_user_namespace_of(pid_t pid) {
  const std::string path = "/proc/" + std::to_string(pid) + "/ns/user";
  struct stat theirs, ours;
  if (::stat(path.c_str(), &theirs) < 0) throw_sys("cannot read " + path);
  if (::stat("/proc/self/ns/user", &ours) < 0) throw_sys("cannot read /proc/self/ns/user");
  if (theirs.st_ino == ours.st_ino && theirs.st_dev == ours.st_dev) return;
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd || ::setns(fd.get(), CLONE_NEWUSER) < 0) throw_sys("cannot join the pod's user namespace " + path);
  if (::setresgid(0, 0, 0) < 0 || ::setresuid(0, 0, 0) < 0) throw_sys("cannot become uid 0 in the pod's user namespace");
}

int enter_main(int argc, char** argv) {
  Args args = parse_args(argc, argv, {"--debug", "--app", "--tty"});
  auto app = args.value("--app");
  if (!app || args.positional.size() != 1 || args.rest.empty())
    throw usage_error("usage: enter [--debug] --app=<name> [--tty] <uuid> -- <cmd> [args...]");
  const std::string& uuid = args.positional[0];
  UniqueFd pod = open_dir(".");
  auto pid = read_pid(pod.get());
  if (!pid) throw Error("pod " + uuid + " is not running (no pid file yet)");
  if (!pid_is_pods(*pid, uuid, pod.get())) throw Error("pod " + uuid + " is not running (pid " + std::to_string(*pid) + " is gone)");

  const std::string proc = "/proc/" + std::to_string(*pid) + "/ns/";
  std::vector<std::pair<UniqueFd, int>> ns;
  // The mount namespace last: it changes our root, and /proc with it.
  // The cgroup namespace after join_cgroups_of(): its root is the cgroup we are in.
  for (auto [name, type] : {std::pair{"ipc", CLONE_NEWIPC}, {"uts", CLONE_NEWUTS}, {"net", CLONE_NEWNET},
                            {"pid", CLONE_NEWPID}, {"cgroup", CLONE_NEWCGROUP}, {"mnt", CLONE_NEWNS}}) {
    int fd = ::open((proc + name).c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw_sys("cannot open " + proc + name);
    ns.emplace_back(UniqueFd(fd), type);
  }
  join_cgroups_of(*pid, uuid);
  join_user_namespace_of(*pid);  // first: it owns the others of a rootless pod
  for (auto& [fd, type] : ns)
    if (::setns(fd.get(), type) < 0) throw_sys("cannot join the pod's namespaces");

  std::vector<std::string> cmd = {"/init", "enter", "--app=" + *app};
  if (args.has("--debug")) cmd.push_back("--debug");
  cmd.push_back("--");
  for (const auto& a : args.rest) cmd.push_back(a);

  // The pid namespace applies to children only.
  ChildOptions c;
  c.env = std::vector<std::string>{std::string("TERM=") + (::getenv("TERM") ? ::getenv("TERM") : "dumb"),
                                   std::string("POD_INIT_CGROUP_V1=") + kV1InRoot};
  if (args.has("--tty") && ::isatty(STDIN_FILENO)) {
    c.setsid = true;
    c.pre_exec = [] { ::ioctl(STDIN_FILENO, TIOCSCTTY, 0); };
  }
  Child child;
  try {
    child = Child::start(cmd, c);
  } catch (const Error& e) {
    std::cerr << "enter: pod " << uuid << ": " << e.what() << "\n";
    return kExitFailure;  // as a stage1 failure, not the command's status
  }
  g_child = child.pid();
  for (int s : {SIGTERM, SIGINT, SIGHUP}) ::signal(s, forward);
  return child.wait();
}

}  // namespace

int main(int argc, char** argv) { return guarded_main("enter", enter_main, argc, argv); }
