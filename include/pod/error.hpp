// pod::Error: the one error type of libpod. Every call of the public API
// either returns its result or throws a pod::Error; no other exception
// escapes. The kind says what went wrong in a way a program can act on; the
// message says it for a person, naming the item involved.
#pragma once
#include <stdexcept>
#include <string>

namespace pod {

enum class ErrorKind {
  Failed,    // an operation failed (the default)
  Usage,     // bad arguments or flags: the caller asked for something malformed
  NotFound,  // the named pod, app, image or file does not exist
  Conflict,  // the pod or image is in a state that forbids the operation (running, busy, locked)
  Invalid,   // malformed input: a manifest, archive, reply or file that does not follow its format
  Io,        // the system refused: a syscall failed (errnum says why)
  Image,     // an image could not be fetched, verified or rendered
  Stage1,    // the stage1 could not start the pod or failed itself
  Internal,  // a bug: something that must not happen did
};

// "usage", "not-found", "conflict", …: stable names for machine-readable output.
const char* error_kind_name(ErrorKind k) noexcept;

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& msg, int errnum = 0, ErrorKind kind = ErrorKind::Failed);
  int errnum() const noexcept { return errnum_; }
  ErrorKind kind() const noexcept { return kind_; }
  // The item involved, where the thrower knew it: a pod UUID (or the prefix given), an image
  // reference, a file or directory path; "" otherwise.
  const std::string& item() const noexcept { return item_; }
  // A copy of this error whose message is "<ctx>: <message>" (the item kept).
  Error with_context(const std::string& ctx) const;
  // A copy of this error naming `item` (unless it names one already).
  Error with_item(const std::string& item) const;

 private:
  int errnum_;
  ErrorKind kind_;
  std::string item_;
};

}  // namespace pod
