#include "util/error.hpp"

#include <cerrno>
#include <cstring>

namespace pod {

Error::Error(const std::string& msg, int errnum, int exit_code)
    : std::runtime_error(msg), errnum_(errnum), exit_code_(exit_code) {}

Error Error::with_context(const std::string& ctx) const {
  return Error(ctx + ": " + what(), errnum_, exit_code_);
}

void throw_errno(int err, const std::string& what) {
  throw Error(what + ": " + std::strerror(err), err);
}

void throw_sys(const std::string& what) { throw_errno(errno, what); }

}  // namespace pod
