// Ordered start and sandboxes in the pod manifest (src/contract/apporder.hpp):
// what stage0 checks at prepare and the order the pod init starts apps in;
// the apps' readiness records (src/contract/appready.hpp).
#include <doctest/doctest.h>

#include <string>

#include "../../stage1/init/config.hpp"
#include "contract/apporder.hpp"
#include "contract/appready.hpp"
#include "contract/runtime.hpp"
#include "util/error.hpp"

using namespace pod;
using namespace pod::contract;

namespace {

RuntimeApp app(const std::string& name, const std::string& after = "") {
  RuntimeApp a;
  a.name = name;
  a.image.id = "sha512-" + std::string(64, '0');
  a.app.exec = {"/bin/true"};
  if (!after.empty()) a.annotations.push_back({kAnnAfter, after});
  return a;
}

std::string order_error(const PodManifest& m) {
  try {
    check_app_order(m);
  } catch (const Error& e) {
    CHECK(e.kind() == ErrorKind::Usage);
    return e.what();
  }
  return "";
}

std::vector<std::string> started(const PodManifest& m) {
  AppDeps deps;
  for (const auto& a : m.apps) deps.emplace_back(a.name, app_after(a));
  std::vector<std::string> out;
  for (size_t i : start_order(deps)) out.push_back(deps[i].first);
  return out;
}

}  // namespace

TEST_CASE("apporder: apps start after the ones they name, else in manifest order") {
  PodManifest m;
  m.apps = {app("c", "b"), app("b", "a"), app("a"), app("d")};
  CHECK(order_error(m).empty());
  CHECK(started(m) == std::vector<std::string>{"a", "b", "c", "d"});
  m.apps = {app("x"), app("web", "db,cache"), app("cache"), app("db")};
  CHECK(started(m) == std::vector<std::string>{"x", "db", "cache", "web"});  // the named ones in the order named
}

TEST_CASE("apporder: cycles, unknown names, self and readiness are refused, naming them") {
  PodManifest m;
  m.apps = {app("a", "b"), app("b", "c"), app("c", "a")};
  CHECK(order_error(m) == "app ordering has a cycle: a -> b -> c -> a (--after)");
  m.apps = {app("z"), app("a", "b"), app("b", "a")};
  CHECK(order_error(m) == "app ordering has a cycle: a -> b -> a (--after)");
  m.apps = {app("a", "nope")};
  CHECK(order_error(m) == "app a: --after nope: the pod has no app named \"nope\"");
  m.apps = {app("a", "a")};
  CHECK(order_error(m) == "app a cannot start after itself (--after a)");
  CHECK(parse_after("a,b:ready", "--after") == std::vector<std::string>{"a", "b"});
  CHECK_THROWS_WITH(parse_after("b:started", "--after"),
                    "--after b:started: the condition after ':' can only be \"ready\" (NAME or NAME:ready)");
  CHECK_THROWS_WITH(parse_after(":ready", "--after"), "--after: \"\" is not an app name");
  CHECK_THROWS_WITH(parse_after("a,,b", "--after"), "--after: \"\" is not an app name");
  CHECK_THROWS_WITH(parse_after("A", "--after"), "--after: \"A\" is not an app name");
}

TEST_CASE("apporder: the init reads pod/after and pod/sandbox; only a sandbox may have no apps") {
  PodManifest m;
  m.apps = {app("b", "a"), app("a")};
  init::PodConfig c = init::parse_config(serialize(m), serialize(Runtime{}));
  CHECK(c.app("b")->after == std::vector<std::string>{"a"});
  CHECK(c.app("b")->after_ready.empty());
  m.apps = {app("b", "a:ready"), app("a")};
  c = init::parse_config(serialize(m), serialize(Runtime{}));
  CHECK(c.app("b")->after == std::vector<std::string>{"a"});
  CHECK(c.app("b")->after_ready == std::vector<std::string>{"a"});
  CHECK(c.app("a")->after.empty());
  CHECK_FALSE(c.sandbox);
  PodManifest empty;
  CHECK_THROWS_WITH(init::parse_config(serialize(empty), serialize(Runtime{})), "pod manifest: no apps");
  empty.annotations.push_back({kAnnSandbox, "true"});
  c = init::parse_config(serialize(empty), serialize(Runtime{}));
  CHECK(c.sandbox);
  CHECK(c.apps.empty());
}

TEST_CASE("appready: READY=1 and STATUS= from an app's datagrams, and the record round trip") {
  AppReadiness r;
  CHECK(apply_notify(r, "STATUS=warming up", 5));
  CHECK((!r.ready && r.ready_at_ns == 0 && r.status == "warming up"));
  CHECK_FALSE(apply_notify(r, "STATUS=warming up\nERRNO=0", 6));  // nothing new
  CHECK(apply_notify(r, "READY=1\nSTATUS=serving", 7));
  CHECK((r.ready && r.ready_at_ns == 7 && r.status == "serving"));
  CHECK_FALSE(apply_notify(r, "READY=1", 9));  // the first READY=1 counts
  CHECK(r.ready_at_ns == 7);
  auto back = parse_app_readiness(format_app_readiness(r));
  REQUIRE(back);
  CHECK((back->ready && back->ready_at_ns == 7 && back->status == "serving"));
  CHECK_FALSE(parse_app_readiness("{\"ready\": 1}"));
  CHECK_FALSE(parse_app_readiness("{\"rea"));
}

TEST_CASE("pod/volumes: the volumes that go with an app are those no other app mounts") {
  PodManifest m;
  m.apps = {app("a"), app("b"), app("c")};
  m.apps[0].annotations.push_back({kAnnVolumes, "v,w,x"});
  m.apps[0].mounts = {{"v", "/v", false}, {"w", "/w", false}, {"x", "/x", false}};
  m.apps[1].mounts = {{"w", "/w", false}};
  CHECK(app_own_volumes(m, "a") == std::vector<std::string>{"v", "x"});
  CHECK(app_own_volumes(m, "b").empty());  // no annotation: it brought none
  CHECK(app_own_volumes(m, "nope").empty());
  CHECK(app_brought_volumes(m.apps[0]) == std::vector<std::string>{"v", "w", "x"});
  m.apps[2].annotations.push_back({kAnnVolumes, ",y,,z,"});  // empty elements are no names
  CHECK(app_brought_volumes(m.apps[2]) == std::vector<std::string>{"y", "z"});
}
