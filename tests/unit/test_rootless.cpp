// Rootless pods' pure parts: /etc/subuid parsing, the runtime.json fields (Documentation/rootless.md).
#include <doctest/doctest.h>
#include <fcntl.h>

#include "contract/runtime.hpp"
#include "helpers.hpp"
#include "rootless/userns.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"

using namespace pod;
using podtest::TempDir;

TEST_CASE("subuid: the user's first range, by name or by uid; others' lines and comments skipped") {
  TempDir d;
  const std::string f = d.path() + "/subuid";
  write_file_at(AT_FDCWD, f, "# ranges\nalice:100000:65536\nbob:165536:65536\n1001:231072:1000\nbob:300000:5\n");
  auto a = rootless::sub_range(f, "bob", 1000);
  REQUIRE(a);
  CHECK(a->start == 165536);
  CHECK(a->count == 65536);
  auto b = rootless::sub_range(f, "carol", 1001);
  REQUIRE(b);
  CHECK(b->start == 231072);
  CHECK(b->count == 1000);
  CHECK_FALSE(rootless::sub_range(f, "dave", 1002));
  CHECK_FALSE(rootless::sub_range(d.path() + "/absent", "bob", 1000));
}

TEST_CASE("subuid: every entry, a malformed one without a range (the --private-users pick skips it)") {
  TempDir d;
  const std::string f = d.path() + "/subuid";
  write_file_at(AT_FDCWD, f, "# c\nalice:100000:65536\n\nbob:x:5\ncarol:1:2:3\n");
  auto e = rootless::sub_id_entries(f);
  REQUIRE(e.size() == 3);
  CHECK((e[0].owner == "alice" && e[0].range && e[0].range->start == 100000 && e[0].range->count == 65536));
  CHECK((e[0].where == f + " line 2"));
  CHECK((e[1].owner == "bob" && !e[1].range && e[1].where == f + " line 4"));
  CHECK((e[2].owner == "carol" && !e[2].range));
  CHECK(rootless::sub_id_entries(d.path() + "/absent").empty());
}

TEST_CASE("subuid: a malformed line of the user is an error naming the file and line; a zero count is no range") {
  TempDir d;
  const std::string f = d.path() + "/subuid";
  write_file_at(AT_FDCWD, f, "alice:x:65536\nbob:1:0\n");
  try {
    (void)rootless::sub_range(f, "alice", 1000);
    FAIL("accepted");
  } catch (const Error& e) {
    CHECK(std::string(e.what()).find(f + " line 1") != std::string::npos);
  }
  CHECK_FALSE(rootless::sub_range(f, "bob", 1001));
}

TEST_CASE("runtime.json: publish only with net pasta; rootless round-trips") {
  contract::Runtime r;
  r.net = contract::kNetPasta;
  r.rootless = true;
  r.publish.push_back({"127.0.0.1", 18080, 80, "tcp", ""});
  CHECK(contract::parse_runtime(contract::serialize(r)) == r);
  r.net = "none";
  CHECK_THROWS_WITH_AS(contract::parse_runtime(contract::serialize(r)), doctest::Contains("publish"), Error);
}
