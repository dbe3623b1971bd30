// stage0's exit codes (Documentation/cli.md, "Exit codes"): the only place
// where an error's kind becomes a process exit status.
#pragma once
#include "util/error.hpp"

namespace pod::cli {

enum ExitCode : int {
  kExitOk = 0,
  kExitError = 1,       // an operation failed
  kExitUsage = 2,       // bad flags or arguments
  kExitNotFound = 3,    // the named pod, app or image does not exist
  kExitBusy = 4,        // the pod or image is in a state that forbids the operation (e.g. running)
  kExitFsckFindings = 5,  // fsck: findings left (unrepaired, or without --repair)
  kExitFsckRepaired = 6,  // fsck --repair: every finding repaired
  kExitRunFailed = 125  // run/run-prepared: the pod could not be started
};

inline int exit_code_for(const Error& e) {
  switch (e.kind()) {
    case ErrorKind::Usage: return kExitUsage;
    case ErrorKind::NotFound: return kExitNotFound;
    case ErrorKind::Conflict: return kExitBusy;
    case ErrorKind::Stage1: return kExitRunFailed;
    default: return kExitError;
  }
}

}  // namespace pod::cli
