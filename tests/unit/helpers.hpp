// Test helpers: a temp dir that removes itself, and running code in a forked
// child (to hold locks from "another process" or to crash on purpose).
#pragma once
#include <sys/types.h>

#include <functional>
#include <string>

#include "pods/pod.hpp"

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
// Fork a child running fn and return its pid without waiting.
pid_t spawn_child(const std::function<int()>& fn);
int wait_child(pid_t pid);

// A new pod driven to `state`: Preparing, Prepared, Running (this process
// holds the lock, as a stage1 would) or Exited.
pod::Pod make_pod(const pod::Store& s, pod::PodState state);

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
