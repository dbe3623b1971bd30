#include "helpers.hpp"

#include "util/error.hpp"

#include <doctest/doctest.h>
#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
#include <stdexcept>

#include "util/fs.hpp"

namespace podtest {

TempDir::TempDir() {
  char tmpl[] = "/tmp/pod-unit-XXXXXX";
  if (!::mkdtemp(tmpl)) throw std::runtime_error("mkdtemp failed");
  path_ = tmpl;
}

TempDir::~TempDir() {
  try {
    pod::remove_tree_at(AT_FDCWD, path_);
  } catch (...) {
    // leave it for inspection; a test failure will already be reported
  }
}

Openat2Mode::Openat2Mode(bool on) : on_(on) {
  pod::set_openat2_for_tests(on);
  start_ = pod::openat2_fallbacks();
}

Openat2Mode::~Openat2Mode() { pod::set_openat2_for_tests(std::nullopt); }

unsigned long Openat2Mode::fallbacks() const { return pod::openat2_fallbacks() - start_; }

void Openat2Mode::check_fallback() const {
  if (!on_) CHECK_MESSAGE(fallbacks() > 0, "openat2 forced off, but no fallback walk ran");
  else if (pod::openat2_enabled()) CHECK_MESSAGE(fallbacks() == 0, "openat2 on, but a fallback walk ran");
  else MESSAGE("this kernel has no openat2: both passes took the fallback");
}

pod::Child spawn_child(const std::function<int()>& fn) { return pod::Child::start_function(fn); }

int wait_child(pod::Child& child) {
  child.wait();
  return *child.status();
}

pod::Pod make_pod(const pod::Store& s, pod::PodState state) {
  pod::Pod p = pod::Pod::create(s);
  p.to_preparing();
  if (state == pod::PodState::Preparing) return p;
  if (state == pod::PodState::Prepared) {
    p.to_prepared();
    return p;
  }
  p.to_run();
  if (state == pod::PodState::Exited) p.unlock();
  return p;
}

int run_in_child(const std::function<int()>& fn) {
  pod::Child child = spawn_child(fn);
  return wait_child(child);
}

Latch::Latch() {
  if (::pipe(fds_) < 0) throw std::runtime_error("pipe failed");
}
Latch::~Latch() {
  ::close(fds_[0]);
  ::close(fds_[1]);
}
void Latch::signal() {
  char c = 1;
  (void)!::write(fds_[1], &c, 1);
}
void Latch::wait() {
  char c;
  (void)!::read(fds_[0], &c, 1);
}

std::string error_message(const std::function<void()>& f) {
  try {
    f();
  } catch (const pod::Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace podtest
