// Test helpers: a temp dir that removes itself, and running code in a forked
// child (to hold locks from "another process" or to crash on purpose).
#pragma once
#include <sys/types.h>

#include <functional>
#include <string>

#include "pods/pod.hpp"
#include "util/process.hpp"

namespace podtest {

class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// Run fn in a forked child; returns the raw wait status. The child _exits
// with fn's return value (or 70 on an exception).
int run_in_child(const std::function<int()>& fn);
// Fork a child running fn without waiting (it is killed if not waited for).
pod::Child spawn_child(const std::function<int()>& fn);
// Wait for it; returns the raw wait status.
int wait_child(pod::Child& child);

// The message of the pod::Error f throws, "" when it throws none.
std::string error_message(const std::function<void()>& f);

// A new pod driven to `state`: Preparing, Prepared, Running (this process
// holds the lock, as a stage1 would) or Exited.
pod::Pod make_pod(const pod::Store& s, pod::PodState state);

// Path-safety tests run twice, like crun's no_openat2 tests: once with
// openat2 (where the kernel has it) and once with it forced off, so that the
// O_NOFOLLOW walks are tested too. In a test case:
//   PODTEST_WITH_AND_WITHOUT_OPENAT2(mode);
//   ... (mode.on() says which pass this is) ...
//   mode.check_fallback();  // the walks ran in the forced-off pass, not in the other
#define PODTEST_WITH_AND_WITHOUT_OPENAT2(var)                  \
  bool var##_on = true;                                        \
  SUBCASE("with openat2") { var##_on = true; }                 \
  SUBCASE("openat2 forced off") { var##_on = false; }          \
  podtest::Openat2Mode var(var##_on)

class Openat2Mode {
 public:
  explicit Openat2Mode(bool on);
  ~Openat2Mode();  // back to what POD_NO_OPENAT2 says
  Openat2Mode(const Openat2Mode&) = delete;
  Openat2Mode& operator=(const Openat2Mode&) = delete;
  bool on() const { return on_; }
  // Fallback walks taken since the constructor.
  unsigned long fallbacks() const;
  void check_fallback() const;

 private:
  bool on_;
  unsigned long start_;
};

// A pipe-based one-shot signal between processes.
class Latch {
 public:
  Latch();
  ~Latch();
  void signal();
  void wait();

 private:
  int fds_[2];
};

}  // namespace podtest
