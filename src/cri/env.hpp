// What every CRI service call shares: the data dir and the server's options.
// Each call opens its own pod::Runtime (a Runtime is not shared between
// threads; opening one costs a few system calls), so that the server holds
// no state of its own beyond the data dir (Documentation/kubernetes.md).
#pragma once
#include <pod/pod.hpp>
#include <string>

#include "cri/options.hpp"

namespace pod::cri {

struct Env {
  std::string data_dir;
  Options opts;
  pod::Runtime runtime() const { return pod::Runtime::open(data_dir); }
};

}  // namespace pod::cri
