// --private-users (src/run/privateusers.hpp): the flag's values, and ranges
// reserved per pod in a data dir that never overlap and are released.
#include <doctest/doctest.h>

#include <unistd.h>

#include "helpers.hpp"
#include "pods/pod.hpp"
#include "pods/store.hpp"
#include "run/privateusers.hpp"
#include "util/error.hpp"

using namespace pod;
using podtest::TempDir;

namespace {
std::string usage_message(const std::string& v) {
  try {
    run::parse_private_users(v);
  } catch (const Error& e) {
    CHECK(e.kind() == ErrorKind::Usage);
    return e.what();
  }
  FAIL("accepted " << v);
  return "";
}
}  // namespace

TEST_CASE("--private-users values") {
  CHECK_FALSE(run::parse_private_users("").has_value());
  auto r = run::parse_private_users("100000:5000");
  REQUIRE(r);
  CHECK(r->base == 100000);
  CHECK(r->count == 5000);
  CHECK(run::parse_private_users("100000")->count == 65536);
  CHECK(usage_message("0:10") == "--private-users: UID 0 would map the pod's root to the host's root");
  CHECK(usage_message("10:0") == "--private-users: COUNT must be at least 1");
  CHECK(usage_message("-5:10") == "--private-users: UID \"-5\" is not a number");
  CHECK(usage_message("5:x") == "--private-users: COUNT \"x\" is not a number");
  CHECK(usage_message("4294967290:10") == "--private-users: 4294967290:10 goes past the last host id (4294967294)");
}

TEST_CASE("ranges per pod: picked or given, never overlapping, released, swept when the pod is gone") {
  TempDir d;
  Store store = Store::open(d.path());
  Pod a = Pod::create(store), b = Pod::create(store), c = Pod::create(store);
  const IdShift ra = run::reserve_private_users(store, a.uuid(), std::nullopt);
  CHECK(ra.count == 65536);
  CHECK(ra.base >= 524288);
  CHECK(ra.base % 65536 == 0);
  // Idempotent for one pod.
  CHECK(run::reserve_private_users(store, a.uuid(), std::nullopt).base == ra.base);
  const IdShift rb = run::reserve_private_users(store, b.uuid(), std::nullopt);
  CHECK((rb.base >= ra.base + ra.count || rb.base + rb.count <= ra.base));
  try {
    run::reserve_private_users(store, c.uuid(), IdShift{ra.base + 100, 10});
    FAIL("an overlapping range was accepted");
  } catch (const Error& e) {
    CHECK(std::string(e.what()).find("of pod " + a.uuid()) != std::string::npos);
  }
  run::release_private_users(store, a.uuid());
  CHECK(run::reserve_private_users(store, c.uuid(), IdShift{ra.base + 100, 10}).base == ra.base + 100);
  // b's pod goes away without its record: the sweep drops it, and only it.
  remove_tree_at(store.dir_fd(PodDir::Embryo), b.uuid());
  CHECK(run::sweep_private_users(store) == std::vector<std::string>{b.uuid()});
  CHECK(run::sweep_private_users(store).empty());
}
