// The one error type that crosses library boundaries (include/pod/error.hpp),
// and helpers to throw it.
//
// Library code throws pod::Error with a kind; only stage0 turns kinds into
// exit codes (stage0/exitcodes.hpp). Wrap lower-level failures with context at
// the point where the context is known (see with_context()).
#pragma once
#include <pod/error.hpp>
#include <string>

namespace pod {

// Throws Error("<what>: <strerror(err)>", err, ErrorKind::Io).
[[noreturn]] void throw_errno(int err, const std::string& what);
// Same, with the current errno.
[[noreturn]] void throw_sys(const std::string& what);

inline Error usage_error(const std::string& msg) { return Error(msg, 0, ErrorKind::Usage); }
inline Error not_found_error(const std::string& msg) { return Error(msg, 0, ErrorKind::NotFound); }
inline Error conflict_error(const std::string& msg, int errnum = 0) { return Error(msg, errnum, ErrorKind::Conflict); }
inline Error invalid_error(const std::string& msg) { return Error(msg, 0, ErrorKind::Invalid); }

// The pod exit status a stage1 reports when it failed itself (stage1-abi.md).
inline constexpr int kExitStage1Failed = 125;

}  // namespace pod
