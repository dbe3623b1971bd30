// The one error type that crosses library boundaries.
//
// Library code throws pod::Error; the CLI catches it once at the top, prints
// "pod: <message>" and exits with exit_code(). Wrap lower-level failures with
// context at the point where the context is known (see with_context()).
#pragma once
#include <stdexcept>
#include <string>

namespace pod {

// Process exit codes used by stage0 (documented in Documentation/cli.md).
enum ExitCode : int {
  kExitOk = 0,
  kExitError = 1,      // an operation failed
  kExitUsage = 2,      // bad flags or arguments
  kExitNotFound = 3,   // named pod or image does not exist (status/rm/...)
  kExitBusy = 4,       // the pod is in a state that forbids the operation (e.g. running)
  kExitRunFailed = 125 // run/run-prepared: the pod could not be started
};

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& msg, int errnum = 0, int exit_code = kExitError);
  int errnum() const noexcept { return errnum_; }
  int exit_code() const noexcept { return exit_code_; }
  // A copy of this error whose message is "<ctx>: <message>".
  Error with_context(const std::string& ctx) const;

 private:
  int errnum_;
  int exit_code_;
};

// Throws Error("<what>: <strerror(err)>", err).
[[noreturn]] void throw_errno(int err, const std::string& what);
// Same, with the current errno.
[[noreturn]] void throw_sys(const std::string& what);

inline Error usage_error(const std::string& msg) { return Error(msg, 0, kExitUsage); }

}  // namespace pod
