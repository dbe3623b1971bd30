// Starting one app process: everything that can fail for a reason the user
// should read (user names, working directory, the executable) is resolved in
// the init first (prepare_exec); the forked child then only applies it
// (exec_app): chroot, cwd, capability bounding set, no_new_privs, seccomp,
// credentials, environment, execve.
#pragma once
#include <string>
#include <vector>

#include "config.hpp"
#include "users.hpp"

namespace pod::init {

inline constexpr const char* kDefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

struct ExecSpec {
  std::string app;
  std::string root;                // the app's rootfs, chrooted into
  std::string cwd;                 // inside root, checked to exist
  std::string path;                // the executable, inside root
  std::vector<std::string> argv;
  std::vector<std::string> env;    // NAME=value
  Credentials creds;
  uint64_t capabilities = 0;       // bounding set
  bool no_new_privs = true;
};

// `argv` overrides the app's exec when not empty (enter). `with_term`: pass
// $TERM on (interactive apps and enter).
ExecSpec prepare_exec(const App& app, bool with_term, std::vector<std::string> argv = {});

// In the forked child. On failure writes "<message>" to err_fd (a CLOEXEC
// pipe the parent reads; EOF there means execve succeeded) and _exit(127).
[[noreturn]] void exec_app(const ExecSpec& spec, int err_fd);

}  // namespace pod::init
