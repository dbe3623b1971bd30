#include <doctest/doctest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <set>

#include "helpers.hpp"
#include "pods/gc.hpp"
#include "pods/walk.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"

using namespace pod;
using podtest::TempDir;

namespace {
GcSettings collect_everything() {
  GcSettings o;
  o.grace_period = std::chrono::milliseconds(0);
  o.expire_prepared = std::chrono::milliseconds(0);
  o.embryo_grace = std::chrono::milliseconds(0);
  return o;
}

size_t pods_left(const Store& s) {
  size_t n = 0;
  for (PodDir d : kAllPodDirs) n += list_dir(s.dir_fd(d)).size();
  return n;
}

const GcLog quiet = [](const std::string&) {};

// The full life of a pod, as `pod run` + exit + `pod rm` would drive it.
void full_lifecycle(const Store& s) {
  Pod p = Pod::create(s);
  p.to_preparing();
  p.to_prepared();
  p.to_run();
  p.unlock();
  remove_pod(p, nullptr, quiet);
}
}  // namespace

TEST_CASE("a kill -9 between any two steps is finished or rolled back by gc") {
  const char* points[] = {"create:after-mkdir",         "to-preparing:after-rename",
                          "to-prepared:after-rename",   "to-run:after-rename",
                          "to-exited-garbage:after-mark", "to-exited-garbage:after-rename",
                          "to-garbage:after-rename",    "delete:after-teardown",
                          "delete:after-unmount",       "delete:before-remove"};
  for (const char* point : points) {
    std::string point_name = point;
    CAPTURE(point_name);
    TempDir t;
    Store s = Store::open(t.path());
    int st = podtest::run_in_child([&] {
      ::setenv("POD_CRASHPOINT", point, 1);
      full_lifecycle(s);
      return 0;
    });
    REQUIRE(WIFSIGNALED(st));
    CHECK(WTERMSIG(st) == SIGKILL);
    CHECK(pods_left(s) == 1);
    GcResult r = gc_pods(s, collect_everything(), nullptr, quiet);
    CHECK(r.failures.empty());
    CHECK(pods_left(s) == 0);
  }
}

TEST_CASE("gc marks exited pods first and deletes them only after the grace period") {
  TempDir t;
  Store s = Store::open(t.path());
  Pod p = podtest::make_pod(s, PodState::Exited);
  GcSettings o;
  o.mark_only = true;
  auto r = gc_pods(s, o, nullptr, quiet);
  CHECK(r.marked.size() == 1);
  CHECK(p.state() == PodState::ExitedGarbage);
  o.mark_only = false;
  r = gc_pods(s, o, nullptr, quiet);  // 30m grace: kept
  CHECK(r.kept.size() == 1);
  CHECK(p.state() == PodState::ExitedGarbage);
  int teardowns = 0;
  r = gc_pods(s, collect_everything(), [&](Pod&) { ++teardowns; }, quiet);
  CHECK(r.collected.size() == 1);
  CHECK(teardowns == 1);
  CHECK(p.state() == PodState::Gone);
}

TEST_CASE("gc keeps running and preparing pods and fresh prepared ones") {
  TempDir t;
  Store s = Store::open(t.path());
  Pod running = podtest::make_pod(s, PodState::Running);
  Pod preparing = podtest::make_pod(s, PodState::Preparing);
  Pod prepared = podtest::make_pod(s, PodState::Prepared);
  GcSettings o;
  o.grace_period = std::chrono::milliseconds(0);
  auto r = gc_pods(s, o, nullptr, quiet);
  CHECK(r.failures.empty());
  CHECK(r.collected.empty());
  CHECK(running.state() == PodState::Running);
  CHECK(preparing.state() == PodState::Preparing);
  CHECK(prepared.state() == PodState::Prepared);
}

TEST_CASE("a failing stage1 teardown is reported and the pod is still removed") {
  TempDir t;
  Store s = Store::open(t.path());
  Pod p = podtest::make_pod(s, PodState::Exited);
  std::vector<std::string> logs;
  auto r = gc_pods(s, collect_everything(), [](Pod&) { throw Error("stage1 gc exploded"); },
                   [&](const std::string& m) { logs.push_back(m); });
  CHECK(r.collected.size() == 1);
  bool reported = false;
  for (auto& l : logs) reported |= l.find("stage1 gc exploded") != std::string::npos;
  CHECK(reported);
}

TEST_CASE("two run-prepared racing on one pod: exactly one wins, the other is told why") {
  TempDir t;
  Store s = Store::open(t.path());
  for (int round = 0; round < 20; ++round) {
    Pod p = podtest::make_pod(s, PodState::Prepared);
    const std::string uuid = p.uuid();
    auto racer = [&] {
      Store s2 = Store::open(t.path());
      Pod q = Pod::open(s2, uuid);
      try {
        q.to_run();
        ::usleep(50 * 1000);  // hold it like a stage1 would
        return 0;
      } catch (const Error& e) {
        return e.kind() == ErrorKind::Conflict ? 10 : 20;
      }
    };
    pod::Child a = podtest::spawn_child(racer), b = podtest::spawn_child(racer);
    int sa = podtest::wait_child(a), sb = podtest::wait_child(b);
    REQUIRE(WIFEXITED(sa));
    REQUIRE(WIFEXITED(sb));
    CHECK(WEXITSTATUS(sa) + WEXITSTATUS(sb) == 10);
  }
}

TEST_CASE("concurrent lifecycles, listing and gc: no spurious failures, everything collected") {
  TempDir t;
  Store s = Store::open(t.path());
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(3);
  auto worker = [&](int kind) {
    return [&, kind]() -> int {
      Store st = Store::open(t.path());
      int errors = 0;
      while (std::chrono::steady_clock::now() < until) {
        try {
          if (kind == 0) {  // `pod run`: preparing -> run -> exit
            Pod p = Pod::create(st);
            p.to_preparing();
            p.to_run();
            p.unlock();
          } else if (kind == 1) {  // `pod prepare` + `pod run-prepared`
            Pod p = Pod::create(st);
            p.to_preparing();
            p.to_prepared();
            p.to_run();
          } else if (kind == 2) {  // `pod list`
            std::set<std::string> seen;
            walk_pods(st, kAllStates, [&](Pod& p, PodState) {
              if (!seen.insert(p.uuid()).second) ++errors;  // a pod listed twice
            });
          } else {  // `pod gc` from cron, overlapping itself
            GcSettings o;
            o.grace_period = std::chrono::milliseconds(0);
            auto r = gc_pods(st, o, nullptr, quiet);
            errors += static_cast<int>(r.failures.size());
          }
        } catch (const Error& e) {
          std::fprintf(stderr, "worker %d: %s\n", kind, e.what());
          ++errors;
        }
      }
      return errors > 100 ? 100 : errors;
    };
  };
  std::vector<pod::Child> kids;
  for (int kind : {0, 0, 1, 2, 3, 3}) kids.push_back(podtest::spawn_child(worker(kind)));
  for (auto& k : kids) {
    int st = podtest::wait_child(k);
    REQUIRE(WIFEXITED(st));
    CHECK(WEXITSTATUS(st) == 0);
  }
  auto r = gc_pods(s, collect_everything(), nullptr, quiet);
  CHECK(r.failures.empty());
  CHECK(pods_left(s) == 0);
}
