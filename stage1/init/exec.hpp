// Starting one app process: everything that can fail for a reason the user
// should read (user names, working directory, the executable) is resolved in
// the init first (prepare_exec); the app's process then only applies it
// (apply_app): chroot, cwd, capability bounding set, no_new_privs, seccomp,
// credentials, environment, execve.
#pragma once
#include <optional>
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
  std::vector<int> capabilities;   // bounding set
  bool keep_all_capabilities = false;  // --insecure-options=capabilities
  bool no_new_privs = true;
  bool default_seccomp = true;     // the pod's allow list (off: --insecure-options=seccomp)
  std::optional<isolators::Seccomp> seccomp;  // the app's own set
  std::optional<int> oom_score_adj;
};

// `argv` overrides the app's exec when not empty (enter). `with_term`: pass
// $TERM on (interactive apps and enter).
ExecSpec prepare_exec(const App& app, bool with_term, std::vector<std::string> argv = {});

// In the app's process, before its exec: chroot, cwd, capabilities,
// no_new_privs, seccomp, credentials. Throws pod::Error on a failure (the
// caller reports it: Child's pre-exec pipe, or enter's stderr).
void apply_app(const ExecSpec& spec);
// apply_app(), then execve in place of this process (enter). Throws when
// anything fails.
[[noreturn]] void exec_app(const ExecSpec& spec);

}  // namespace pod::init
