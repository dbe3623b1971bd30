#include "util/error.hpp"

#include <cerrno>
#include <cstring>

namespace pod {

const char* error_kind_name(ErrorKind k) noexcept {
  switch (k) {
    case ErrorKind::Failed: return "failed";
    case ErrorKind::Usage: return "usage";
    case ErrorKind::NotFound: return "not-found";
    case ErrorKind::Conflict: return "conflict";
    case ErrorKind::Invalid: return "invalid";
    case ErrorKind::Io: return "io";
    case ErrorKind::Image: return "image";
    case ErrorKind::Stage1: return "stage1";
    case ErrorKind::Internal: return "internal";
  }
  return "failed";
}

Error::Error(const std::string& msg, int errnum, ErrorKind kind)
    : std::runtime_error(msg), errnum_(errnum), kind_(kind) {}

Error Error::with_context(const std::string& ctx) const {
  Error e(ctx + ": " + what(), errnum_, kind_);
  e.item_ = item_;
  return e;
}

Error Error::with_item(const std::string& item) const {
  Error e = *this;
  if (e.item_.empty()) e.item_ = item;
  return e;
}

void throw_errno(int err, const std::string& what) { throw Error(what + ": " + std::strerror(err), err, ErrorKind::Io); }

void throw_sys(const std::string& what) { throw_errno(errno, what); }

}  // namespace pod
