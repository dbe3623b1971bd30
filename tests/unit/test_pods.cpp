#include <doctest/doctest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <map>

#include "helpers.hpp"
#include "pods/info.hpp"
#include "pods/pod.hpp"
#include "pods/walk.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"

using namespace pod;
using podtest::TempDir;

namespace {
// State of pod `uuid` as seen by a separate process (fresh store, fresh fds).
PodState state_from_other_process(const std::string& dir, const std::string& uuid) {
  int st = podtest::run_in_child([&] {
    Store s = Store::open(dir);
    return static_cast<int>(Pod::open(s, uuid).state());
  });
  REQUIRE(WIFEXITED(st));
  return static_cast<PodState>(WEXITSTATUS(st));
}
}  // namespace

TEST_CASE("a pod walks the whole lifecycle and every state is derived from dir + lock") {
  TempDir t;
  Store s = Store::open(t.path());
  Pod p = Pod::create(s);
  CHECK(p.state() == PodState::Embryo);
  CHECK(p.locate() == PodDir::Embryo);
  CHECK(state_from_other_process(t.path(), p.uuid()) == PodState::Embryo);

  p.to_preparing();
  CHECK(p.locate() == PodDir::Prepare);
  CHECK(state_from_other_process(t.path(), p.uuid()) == PodState::Preparing);

  p.to_prepared();
  CHECK_FALSE(p.locked());
  CHECK(state_from_other_process(t.path(), p.uuid()) == PodState::Prepared);
  CHECK(p.read_time(poddir::kPreparedAt).has_value());

  p.to_run();
  CHECK(p.locked());
  CHECK(state_from_other_process(t.path(), p.uuid()) == PodState::Running);
  CHECK(p.read_time(poddir::kStartedAt).has_value());

  p.unlock();  // what the kernel does when stage1 exits
  CHECK(state_from_other_process(t.path(), p.uuid()) == PodState::Exited);

  p.to_exited_garbage();
  CHECK(p.locate() == PodDir::ExitedGarbage);
  // our own lock is still held (the transition took it) -> deleting from outside
  CHECK(state_from_other_process(t.path(), p.uuid()) == PodState::ExitedDeleting);
  p.unlock();
  CHECK(state_from_other_process(t.path(), p.uuid()) == PodState::ExitedGarbage);

  p.to_garbage();
  CHECK(state_from_other_process(t.path(), p.uuid()) == PodState::Deleting);
  p.unlock();
  CHECK(state_from_other_process(t.path(), p.uuid()) == PodState::Garbage);
}

TEST_CASE("a creator that dies leaves an aborted prepare") {
  TempDir t;
  Store s = Store::open(t.path());
  podtest::Latch ready;
  std::string uuid(36, ' ');
  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  int st = podtest::run_in_child([&] {
    Pod p = Pod::create(s);
    p.to_preparing();
    (void)!::write(fds[1], p.uuid().data(), 36);
    return 0;  // exits holding the lock -> released by the kernel
  });
  CHECK(WIFEXITED(st));
  REQUIRE(::read(fds[0], uuid.data(), 36) == 36);
  ::close(fds[0]);
  ::close(fds[1]);
  Pod p = Pod::open(s, uuid);
  CHECK(p.state() == PodState::AbortedPrepare);
  CHECK_THROWS_AS(p.to_run(), Error);  // an aborted prepare never runs
  p.to_garbage();
  CHECK(p.locate() == PodDir::Garbage);
}

TEST_CASE("a running pod cannot be marked, removed or run twice") {
  TempDir t;
  Store s = Store::open(t.path());
  Pod p = Pod::create(s);
  p.to_preparing();
  p.to_prepared();
  std::string uuid = p.uuid();
  p.to_run();
  // Another process sees it running and every transition is refused.
  int st = podtest::run_in_child([&] {
    Store s2 = Store::open(t.path());
    Pod q = Pod::open(s2, uuid);
    int refused = 0;
    try { q.to_exited_garbage(); } catch (const Error& e) { refused += e.kind() == ErrorKind::Conflict; }
    try { q.to_run(); } catch (const Error& e) { refused += e.kind() == ErrorKind::Conflict; }
    try { q.to_garbage(); } catch (const Error&) { refused += 1; }
    return refused;
  });
  REQUIRE(WIFEXITED(st));
  CHECK(WEXITSTATUS(st) == 3);
  CHECK(p.locate() == PodDir::Run);
}

TEST_CASE("the lock passes to a child across exec and outlives the parent's handle") {
  TempDir t;
  Store s = Store::open(t.path());
  Pod p = Pod::create(s);
  p.to_preparing();
  p.to_run();
  int fd = p.hand_lock_to_child();
  pod::Child child = podtest::spawn_child([&] {
    // exec keeps fd (CLOEXEC cleared); sleep stands in for stage1
    (void)fd;
    ::execl("/bin/sh", "sh", "-c", "sleep 0.4", static_cast<char*>(nullptr));
    return 71;
  });
  Pod q = Pod::open(s, p.uuid());
  { Pod gone = std::move(p); }  // stage0's handle closes; the child still holds the description
  CHECK(q.state() == PodState::Running);
  podtest::wait_child(child);
  CHECK(q.state() == PodState::Exited);
}

TEST_CASE("lookup by full UUID, unique prefix, ambiguous prefix and junk") {
  TempDir t;
  Store s = Store::open(t.path());
  std::vector<std::string> ids;
  for (int i = 0; i < 40; ++i) {
    Pod p = podtest::make_pod(s, PodState::Prepared);
    ids.push_back(p.uuid());
  }
  CHECK(lookup_pod(s, ids[0]).uuid() == ids[0]);
  CHECK(lookup_pod(s, ids[0].substr(0, 13)).uuid() == ids[0]);
  std::string upper = ids[1];
  for (auto& c : upper) c = static_cast<char>(toupper(c));
  CHECK(lookup_pod(s, upper).uuid() == ids[1]);
  // 40 pods over 16 first hex digits: some first digit is shared.
  std::map<char, int> firsts;
  for (auto& id : ids) firsts[id[0]]++;
  char shared = 0;
  for (auto& [c, n] : firsts) if (n > 1) shared = c;
  REQUIRE(shared);
  try {
    lookup_pod(s, std::string(1, shared));
    FAIL("expected ambiguity");
  } catch (const Error& e) {
    CHECK(std::string(e.what()).find("ambiguous") != std::string::npos);
  }
  try {
    lookup_pod(s, "");
    FAIL("expected usage error");
  } catch (const Error& e) {
    CHECK(e.kind() == ErrorKind::Usage);
  }
  try {
    lookup_pod(s, "00000000-0000-4000-8000-000000000000");
    FAIL("expected not found");
  } catch (const Error& e) {
    CHECK(e.kind() == ErrorKind::NotFound);
  }
  CHECK_THROWS_AS(lookup_pod(s, "../../etc"), Error);
}

TEST_CASE("walk_pods filters by state mask and sorts by UUID") {
  TempDir t;
  Store s = Store::open(t.path());
  Pod a = podtest::make_pod(s, PodState::Prepared);
  Pod b = podtest::make_pod(s, PodState::Preparing);  // we still hold it
  std::vector<std::string> seen;
  walk_pods(s, mask_of(PodState::Prepared), [&](Pod& p, PodState st) {
    CHECK(st == PodState::Prepared);
    seen.push_back(p.uuid());
  });
  CHECK(seen == std::vector<std::string>{a.uuid()});
  int all = 0;
  walk_pods(s, kAllStates, [&](Pod&, PodState) { ++all; });
  CHECK(all == 2);
}

TEST_CASE("pod info reads the manifest and app statuses; corrupt files do not throw") {
  TempDir t;
  Store s = Store::open(t.path());
  Pod p = Pod::create(s);
  p.to_preparing();
  write_file_at(p.fd(), poddir::kManifest,
                R"({"acKind":"PodManifest","acVersion":"0.8.11","apps":[{"name":"web","image":{"name":"example.com/web","id":"sha512-aa","labels":[{"name":"version","value":"1.0"}]},"app":{"exec":["/bin/web"]}},{"name":"db","image":{"name":"example.com/db"},"app":{"exec":["/bin/db"]}}]})");
  UniqueFd sd = mkdirs_at(p.fd(), poddir::kAppStatusDir);
  AppStatus web;
  web.exit_code = 3;
  web.pre_start = HookOutcome{3, false, "no database\n"};
  write_file_at(sd.get(), "web", format_app_status(web));
  write_file_at(sd.get(), "db", "{garbage");
  PodInfo i = read_pod_info(p, p.state());
  REQUIRE(i.apps.size() == 2);
  CHECK(i.apps[0].image_name == "example.com/web:1.0");
  REQUIRE(i.apps[0].exit.has_value());
  CHECK(i.apps[0].exit->exit_code == 3);
  REQUIRE(i.apps[0].exit->pre_start.has_value());
  CHECK(i.apps[0].exit->pre_start->output == "no database\n");
  CHECK(i.apps[0].exit->pre_start->exit_code == 3);
  CHECK_FALSE(i.apps[0].exit->post_stop.has_value());
  CHECK_FALSE(i.apps[1].exit.has_value());
  write_file_at(p.fd(), poddir::kManifest, "not json");
  PodInfo j = read_pod_info(p, p.state());
  CHECK_FALSE(j.manifest_error.empty());
}

TEST_CASE("a data dir that is not writable gives a clear error" * doctest::skip(geteuid() == 0)) {
  CHECK_THROWS_AS(Store::open("/proc/pod-cannot-be-here"), Error);
}
