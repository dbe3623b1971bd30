// The typed contract between stage0 and the stage1s (src/contract/): every
// manifest that is written reads back equal in each reader, and the one set
// of rules refuses what it must, naming the field.
#include <doctest/doctest.h>

#include <random>
#include <string>

#include "../../stage1/init/config.hpp"
#include "contract/manifest.hpp"
#include "contract/runtime.hpp"
#include "run/podspec.hpp"
#include "stage1abi/options.hpp"
#include "util/error.hpp"

using namespace pod;
using namespace pod::contract;

namespace {

// Random but valid manifests: names, paths, numbers at their limits.
class Gen {
 public:
  explicit Gen(unsigned seed) : rng_(seed) {}

  PodManifest manifest() {
    PodManifest m;
    for (int i = 0, n = pick(0, 3); i < n; ++i) m.volumes.push_back(volume(i));
    for (int i = 0, n = pick(1, 3); i < n; ++i) m.apps.push_back(app(i, m.volumes));
    for (int i = 0, n = pick(0, 2); i < n; ++i) m.annotations.push_back({"example.com/a" + std::to_string(i), text()});
    if (pick(0, 1)) m.ports.push_back({"http", static_cast<uint16_t>(pick(0, 65535)), pick(0, 1) ? "127.0.0.1" : ""});
    return m;
  }

  Runtime runtime() {
    Runtime r;
    r.net = std::vector<std::string>{"host", "none", "pasta"}[static_cast<size_t>(pick(0, 2))];
    if (r.net == "pasta" && pick(0, 1)) r.publish.push_back({"", 8080, 80, "tcp", ""});
    r.rootless = pick(0, 1);
    if (!r.rootless && pick(0, 1))
      r.private_users = {static_cast<uint32_t>(pick(1, 1 << 30)), static_cast<uint32_t>(pick(1, 65536)), pick(0, 1) == 1};
    r.hostname = pick(0, 1) ? "pod-" + std::to_string(pick(0, 9999)) : "";
    for (int i = 0, n = pick(0, 2); i < n; ++i) r.dns.push_back("10.0.0." + std::to_string(i));
    for (int i = 0, n = pick(0, 2); i < n; ++i) r.hosts.push_back({"10.1.0." + std::to_string(i), "h" + std::to_string(i)});
    r.interactive = pick(0, 1);
    r.attach = pick(0, 1);
    r.debug = pick(0, 1);
    r.notify_ready = std::vector<std::string>{"none", "started", "app"}[static_cast<size_t>(pick(0, 2))];
    r.stop_timeout_s = pick(0, 86400);
    if (pick(0, 1)) r.stage1_options["cpus"] = std::to_string(pick(1, 64));
    return r;
  }

 private:
  int pick(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng_); }
  std::string text() {
    static const std::vector<std::string> tokens = {"a", "Z", "0", " ", ",", "=", ":", "\"", "\\", "/", "\t", "\n",
                                                    "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x90\xb3"};
    std::string s;
    for (int i = 0, n = pick(0, 12); i < n; ++i) s += tokens[static_cast<size_t>(pick(0, int(tokens.size()) - 1))];
    return s;
  }
  std::string path() {
    std::string p;
    for (int i = 0, n = pick(1, 3); i < n; ++i) p += "/d" + std::to_string(pick(0, 99));
    return p;
  }

  Volume volume(int i) {
    Volume v;
    v.name = "vol-" + std::to_string(i);
    v.read_only = pick(0, 1);
    if (pick(0, 1)) {
      v.kind = VolumeKind::Host;
      v.source = "/srv" + path();
      v.recursive = pick(0, 1);
    } else {
      v.kind = VolumeKind::Empty;
      v.mode = static_cast<mode_t>(pick(0, 07777));
      v.uid = pick(0, 1) ? kMaxId : static_cast<uint32_t>(pick(0, 65535));
      v.gid = static_cast<uint32_t>(pick(0, 65535));
    }
    return v;
  }

  RuntimeApp app(int i, const std::vector<Volume>& volumes) {
    RuntimeApp a;
    a.name = "app-" + std::to_string(i);
    a.image = {"example.com/img" + std::to_string(i), "sha512-" + std::string(128, 'a'), {{"version", "1.0"}}};
    a.app.exec = {"/bin/sh", "-c", text()};
    a.app.user = pick(0, 1) ? "0" : "user" + std::to_string(i);
    a.app.group = std::to_string(pick(0, 65535));
    if (pick(0, 1)) a.app.supplementary_gids = {0, kMaxId, static_cast<uint32_t>(pick(1, 99))};
    a.app.working_directory = pick(0, 1) ? path() : "";
    for (int k = 0, n = pick(0, 3); k < n; ++k) a.app.environment.push_back({"VAR_" + std::to_string(k), text()});
    if (pick(0, 1))
      a.app.isolators.push_back({"resource/memory", {{"limit", std::to_string(pick(1, 999)) + "Mi"}}});
    if (pick(0, 1)) a.app.isolators.push_back({"os/linux/capabilities-retain-set", {{"set", {"CAP_CHOWN", "CAP_KILL"}}}});
    if (pick(0, 1)) a.app.mount_points.push_back({"data", "/data", bool(pick(0, 1))});
    if (pick(0, 1)) a.app.ports.push_back({"http", "tcp", static_cast<uint16_t>(pick(1, 65535)), 1, bool(pick(0, 1))});
    if (pick(0, 1)) a.app.event_handlers.push_back({"pre-start", {"/bin/true"}});
    a.read_only_rootfs = pick(0, 1);
    for (size_t k = 0; k < volumes.size(); ++k)
      if (pick(0, 1)) a.mounts.push_back({volumes[k].name, "/mnt/" + std::to_string(k), bool(pick(0, 1))});
    if (pick(0, 1)) a.annotations.push_back({"note", text()});
    return a;
  }

  std::mt19937 rng_;
};

// The message of the pod::Error `f` throws (kind Invalid); fails otherwise.
template <class F>
std::string refusal(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    CHECK(e.kind() == ErrorKind::Invalid);
    return e.what();
  }
  FAIL("accepted");
  return "";
}

std::string with_app(const std::string& app_fields, const std::string& pod_fields = "") {
  return R"({"acKind": "PodManifest", "acVersion": "0.8.11", )" + pod_fields +
         R"("apps": [{"name": "web", "image": {"id": "sha512-0"}, "app": {"exec": ["/bin/x"])" + app_fields + "}}]}";
}

}  // namespace

TEST_CASE("every pod manifest written reads back equal (stage0 writer, contract reader)") {
  for (unsigned seed = 0; seed < 300; ++seed) {
    Gen g(seed);
    const PodManifest m = g.manifest();
    const std::string text = serialize(m);
    CAPTURE(text);
    CHECK(parse_pod_manifest(text) == m);
    CHECK(serialize(parse_pod_manifest(text)) == text);
  }
}

TEST_CASE("every runtime.json written reads back equal") {
  for (unsigned seed = 0; seed < 200; ++seed) {
    Gen g(seed);
    const Runtime r = g.runtime();
    CHECK(parse_runtime(serialize(r)) == r);
  }
  CHECK(parse_runtime("") == Runtime{});
}

TEST_CASE("privateUsers: a range within the host's ids, for root pods only") {
  CHECK(parse_runtime(R"({"net": "host", "privateUsers": {"base": 100000, "count": 65536}})").private_users ==
        Runtime::PrivateUsers{100000, 65536});
  CHECK(refusal([] { parse_runtime(R"({"net": "host", "privateUsers": {"base": 0, "count": 5}})"); })
            .find("privateUsers.base") != std::string::npos);
  CHECK(refusal([] { parse_runtime(R"({"net": "host", "privateUsers": {"base": 4294967000, "count": 1000}})"); })
            .find("privateUsers.count") != std::string::npos);
  CHECK(refusal([] { parse_runtime(R"({"net": "host", "rootless": true, "privateUsers": {"base": 9, "count": 5}})"); })
            .find("is for root pods") != std::string::npos);
  CHECK(parse_runtime(R"({"net": "host", "privateUsers": {"base": 9, "count": 5, "podDir": "chown"}})").private_users ==
        Runtime::PrivateUsers{9, 5, true});
  CHECK(refusal([] { parse_runtime(R"({"net": "host", "privateUsers": {"base": 9, "count": 5, "podDir": "copy"}})"); })
            .find("privateUsers.podDir: \"copy\" is not idmapped or chown") != std::string::npos);
}

TEST_CASE("the pod init reads what stage0 wrote") {
  for (unsigned seed = 0; seed < 100; ++seed) {
    Gen g(seed);
    const PodManifest m = g.manifest();
    const Runtime r = g.runtime();
    const init::PodConfig c = init::parse_config(serialize(m), serialize(r));
    REQUIRE(c.apps.size() == m.apps.size());
    for (size_t i = 0; i < m.apps.size(); ++i) {
      const auto& a = m.apps[i].app;
      CHECK(c.apps[i].name == m.apps[i].name);
      CHECK(c.apps[i].exec == a.exec);
      CHECK(c.apps[i].user == a.user);
      CHECK(c.apps[i].working_dir == (a.working_directory.empty() ? "/" : a.working_directory));
      CHECK(c.apps[i].supplementary_gids.size() == a.supplementary_gids.size());
      REQUIRE(c.apps[i].mounts.size() == m.apps[i].mounts.size());
      for (size_t k = 0; k < c.apps[i].mounts.size(); ++k) CHECK(c.apps[i].mounts[k].path == m.apps[i].mounts[k].path);
    }
    REQUIRE(c.volumes.size() == m.volumes.size());
    for (size_t i = 0; i < m.volumes.size(); ++i) {
      CHECK(c.volumes[i].recursive == m.volumes[i].recursive);
      CHECK(c.volumes[i].mode == m.volumes[i].mode);
      CHECK(c.volumes[i].uid == m.volumes[i].uid);
    }
    CHECK(c.runtime.hostname == r.hostname);
    CHECK(c.runtime.stop_timeout_s == r.stop_timeout_s);
  }
}

TEST_CASE("numbers from a manifest are range-checked, never wrapped") {
  CHECK(refusal([] { parse_pod_manifest(with_app(R"(, "supplementaryGIDs": [4294967296])")); })
            .find("apps[0].app.supplementaryGIDs[0]: 4294967296 is out of range") != std::string::npos);
  CHECK(refusal([] { parse_pod_manifest(with_app(R"(, "supplementaryGIDs": [-1])")); }).find("is negative") !=
        std::string::npos);
  const std::string vol = R"("volumes": [{"name": "v", "kind": "empty", )";
  CHECK(refusal([&] { parse_pod_manifest(with_app("", vol + R"("uid": 4294967295}],)")); })
            .find("volumes[0].uid: 4294967295 is out of range") != std::string::npos);
  CHECK(refusal([&] { parse_pod_manifest(with_app("", vol + R"("mode": "0999"}],)")); }).find("not an octal mode") !=
        std::string::npos);
  CHECK(refusal([&] { parse_pod_manifest(with_app("", vol + R"("mode": "rwx"}],)")); }).find("volumes[0].mode") !=
        std::string::npos);
  CHECK(refusal([&] { parse_pod_manifest(with_app("", vol + R"("mode": "17777"}],)")); }).find("at most 07777") !=
        std::string::npos);
  CHECK(refusal([] { parse_runtime(R"({"stopTimeout": 1e30})"); }).find("runtime.json.stopTimeout") !=
        std::string::npos);
}

TEST_CASE("strings built in memory must be UTF-8 like JSON text (the field is named)") {
  PodManifest m = parse_pod_manifest(with_app(""));
  m.apps[0].app.environment.push_back({"LATIN1", "caf\xe9"});
  CHECK(refusal([&] { serialize(m); }).find("apps[0].app.environment[0].value: is not valid UTF-8") != std::string::npos);
}

TEST_CASE("names, paths and strings follow one set of rules") {
  auto msg = [](const std::string& text) { return refusal([&] { parse_pod_manifest(text); }); };
  CHECK(msg(R"({"acKind": "ImageManifest", "acVersion": "0.8.11"})").find("acKind") != std::string::npos);
  CHECK(msg("[1,2]").find("must be an object") != std::string::npos);
  CHECK(msg("{").find("not valid JSON") != std::string::npos);
  CHECK(msg(with_app("", R"("volumes": [{"name": "../x", "kind": "empty"}],)")).find("volumes[0].name") !=
        std::string::npos);
  CHECK(msg(with_app("", R"("volumes": [{"name": "v", "kind": "host", "source": "rel"}],)")).find("absolute") !=
        std::string::npos);
  CHECK(msg(with_app("", R"("volumes": [{"name": "v", "kind": "host", "source": "/a/../etc"}],)")).find("..") !=
        std::string::npos);
  CHECK(msg(with_app(R"(, "workingDirectory": "tmp")")).find("workingDirectory") != std::string::npos);
  CHECK(msg(with_app(R"(, "environment": [{"name": "A=B", "value": "x"}])")).find("not a valid variable name") !=
        std::string::npos);
  CHECK(msg(with_app(R"(, "environment": [{"name": "A", "value": "x\u0000y"}])")).find("NUL") != std::string::npos);
  CHECK(msg(R"({"acKind": "PodManifest", "acVersion": "0.8.11", "apps": [{"name": "web", "image": {"id": "x"},
            "app": {"exec": []}}]})").find("apps[0].app.exec: must name a program") != std::string::npos);
  CHECK(msg(R"({"acKind": "PodManifest", "acVersion": "0.8.11", "apps": [
            {"name": "a", "image": {"id": "x"}, "app": {"exec": ["/x"]}},
            {"name": "a", "image": {"id": "x"}, "app": {"exec": ["/x"]}}]})").find("two apps are named") != std::string::npos);
  CHECK(msg(R"({"acKind": "PodManifest", "acVersion": "0.8.11", "apps": [{"name": "a", "image": {"id": "x"},
            "app": {"exec": ["/x"]}, "mounts": [{"volume": "nope", "path": "/m"}]}]})").find("not a volume of this pod") !=
        std::string::npos);
  // 30 000-character names are refused by a loop, not a regex on the stack.
  CHECK(msg(with_app(R"(, "environment": [{"name": ")" + std::string(30000, '-') + R"(", "value": ""}])"))
            .find("not a valid variable name") != std::string::npos);
}

TEST_CASE("appc's older mount form takes its path from the image's mount point; readOnly mount points stick") {
  PodManifest m;
  m = parse_pod_manifest(R"({"acKind": "PodManifest", "acVersion": "0.8.11",
    "volumes": [{"name": "data", "kind": "empty"}],
    "apps": [{"name": "web", "image": {"id": "x"}, "mounts": [{"volume": "data", "mountPoint": "data"}],
              "app": {"exec": ["/x"], "mountPoints": [{"name": "data", "path": "/srv/data", "readOnly": true}]}}]})");
  REQUIRE(m.apps[0].mounts.size() == 1);
  CHECK(m.apps[0].mounts[0].path == "/srv/data");
  CHECK(m.apps[0].mounts[0].read_only);
}

TEST_CASE("build_pod_manifest: image app section plus the flags' overrides") {
  run::ResolvedApp a;
  a.spec.image = "example.com/web";
  a.spec.exec = "/bin/other";
  a.spec.args = {"x", "y"};
  a.spec.args_given = true;
  a.spec.set_env = {{"B", "2"}, {"A", "override"}};
  a.spec.working_dir = "/srv";
  a.image_id = "sha512-1";
  a.image_manifest = nlohmann::json::parse(R"({"acKind": "ImageManifest", "acVersion": "0.8.11",
    "name": "example.com/web", "labels": [{"name": "version", "value": "2"}],
    "app": {"exec": ["/bin/web", "--old"], "user": "99", "group": "99",
            "environment": [{"name": "A", "value": "image"}],
            "mountPoints": [{"name": "data", "path": "/data", "readOnly": true}]}})");
  PodSpec spec;
  spec.volumes.push_back(run::parse_volume("data,kind=empty,mode=0700,uid=7,gid=8"));
  const PodManifest m = run::build_pod_manifest(spec, {a});
  REQUIRE(m.apps.size() == 1);
  const RuntimeApp& ra = m.apps[0];
  CHECK(ra.name == "web");
  CHECK(ra.app.exec == std::vector<std::string>{"/bin/other", "x", "y"});
  CHECK(ra.app.user == "99");
  CHECK(ra.app.working_directory == "/srv");
  REQUIRE(ra.app.environment.size() == 2);
  CHECK(ra.app.environment[0].name == "A");
  CHECK(ra.app.environment[0].value == "override");
  CHECK(ra.app.environment[1].name == "B");
  REQUIRE(ra.mounts.size() == 1);
  CHECK(ra.mounts[0].path == "/data");
  CHECK(ra.mounts[0].read_only);
  CHECK(ra.image.labels == std::vector<NameValue>{{"version", "2"}});
  REQUIRE(m.volumes.size() == 1);
  CHECK(m.volumes[0].mode == 0700);
  CHECK(m.volumes[0].uid == 7);
  CHECK(parse_pod_manifest(serialize(m)) == m);

  spec.volumes.clear();  // the image's mount point then has no volume
  CHECK_THROWS_WITH_AS(run::build_pod_manifest(spec, {a}), doctest::Contains("needs a volume \"data\""), Error);
  run::ResolvedApp b = a;
  b.image_manifest["app"].erase("exec");
  b.spec.exec.reset();
  b.spec.args_given = false;
  spec.volumes.push_back(run::parse_volume("data,kind=empty"));
  CHECK_THROWS_WITH_AS(run::build_pod_manifest(spec, {b}), doctest::Contains("has no command to run"), Error);
  CHECK_THROWS_WITH_AS(run::build_pod_manifest(spec, {a, a}), doctest::Contains("two apps are named \"web\""), Error);
}

namespace {
// The message of the usage error `f` throws (fails the test when it throws none).
template <typename F>
std::string usage(F f) {
  try {
    f();
  } catch (const Error& e) {
    CHECK(e.kind() == ErrorKind::Usage);
    return e.what();
  }
  FAIL("accepted");
  return "";
}
}  // namespace

TEST_CASE("flag parsers: ids and modes are range-checked, env names without regex") {
  CHECK(usage([] { run::parse_volume("v,kind=empty,uid=4294967296"); }).find("out of range") != std::string::npos);
  CHECK(usage([] { run::parse_volume("v,kind=empty,uid=99999999999999999999"); }).find("out of range") !=
        std::string::npos);
  CHECK(run::parse_volume("v,kind=empty,uid=4294967294").uid == 4294967294u);
  CHECK(usage([] { run::parse_volume("v,kind=empty,mode=9"); }).find("not octal") != std::string::npos);
  CHECK(usage([] { run::parse_volume("v,kind=empty,mode=17777"); }).find("not octal") != std::string::npos);
  CHECK(run::parse_volume("v,kind=empty,mode=07777").mode == "07777");
  CHECK(usage([] { run::parse_env(std::string(30000, 'A') + "=1", "--set-env"); }).find("valid variable name") !=
        std::string::npos);
  CHECK(run::parse_env("A.b-c=x=y", "--set-env") == std::pair<std::string, std::string>{"A.b-c", "x=y"});
  CHECK(run::parse_volume("h,kind=host,source=/,recursive=false").recursive == false);
}

TEST_CASE("volumes an app brings (add_app): the --volume parser's checks, as exact messages") {
  CHECK(usage([] { run::check_volume({"Bad", "host", "/"}, "volume Bad"); }) ==
        "volume Bad: volume name \"Bad\" must be lowercase letters, digits and dashes");
  CHECK(usage([] { run::check_volume({"v", "tmpfs", ""}, "volume v"); }) == "volume v: kind must be host or empty");
  CHECK(usage([] { run::check_volume({"v", "host", "rel/x"}, "volume v"); }) ==
        "volume v: \"rel/x\" must be an absolute path");
  CHECK(usage([] { run::check_volume({"v", "host", "/tmp/../etc"}, "volume v"); }) ==
        "volume v: \"/tmp/../etc\" must not contain \"..\"");
  CHECK(usage([] { run::check_volume({"v", "host", "/no/such/path/x"}, "volume v"); }) ==
        "volume v: source /no/such/path/x does not exist");
  run::check_volume({"v", "host", "/etc/hostname"}, "volume v");  // a file is fine
  run::check_volume({"v", "empty", ""}, "volume v");
  // The flag parser says the same through it.
  CHECK(usage([] { run::parse_volume("v,kind=foo"); }) == "--volume v,kind=foo: kind must be host or empty");
  CHECK(usage([] { run::parse_volume("X,kind=empty"); }) ==
        "--volume X,kind=empty: volume name \"X\" must be lowercase letters, digits and dashes");
  CHECK(usage([] { run::parse_volume("v,kind=host,source=/nope-nope"); }) ==
        "--volume v,kind=host,source=/nope-nope: source /nope-nope does not exist");
  // A pod's own apps cannot bring volumes (only add_app adds them), and mount targets must stay inside.
  run::ResolvedApp r;
  r.spec.name = "a";
  r.image_manifest = {{"acKind", "ImageManifest"}, {"name", "example.com/a"}, {"app", {{"exec", {"/bin/true"}}}}};
  r.spec.volumes.push_back({"v", "empty", ""});
  CHECK(usage([&] { run::build_app(r, {"v"}); }) ==
        "volumes of an app (v) are only for apps added to a running pod; give them as the pod's volumes");
  r.spec.volumes.clear();
  r.spec.mounts = {{"v", "data"}};
  CHECK(usage([&] { run::build_app(r, {"v"}); }) == "app a: mount of volume v at: \"data\" must be an absolute path");
  r.spec.mounts = {{"v", "/data/../.."}};
  CHECK(usage([&] { run::build_app(r, {"v"}); }) == "app a: mount of volume v at: \"/data/../..\" must not contain \"..\"");
  r.spec.mounts = {{"v", "/"}};
  CHECK(usage([&] { run::build_app(r, {"v"}); }) == "app a: volume v cannot be mounted at /");
  r.spec.mounts = {{"v", "/data"}};
  CHECK(run::build_app(r, {"v"}).mounts.front().path == "/data");
}

TEST_CASE("stage1 options: declared by the stage1, checked by stage0") {
  const nlohmann::json decl = nlohmann::json::parse(R"([{"name": "accel", "type": "enum", "values": ["kvm", "tcg"]},
    {"name": "cpus", "type": "int", "min": 1, "max": 8, "default": "1"},
    {"name": "memory", "type": "size"}, {"name": "debug", "type": "bool"}])");
  const nlohmann::json m = {{"name", "example.com/s1"},
                            {"annotations", {{{"name", "pod/stage1/options"}, {"value", decl.dump()}}}}};
  const auto decls = stage1::declared_options(m);
  REQUIRE(decls.size() == 4);
  CHECK_NOTHROW(stage1::check_options(decls, {{"accel", "tcg"}, {"cpus", "8"}, {"memory", "1Gi"}, {"debug", "true"}}, "s1"));
  CHECK_THROWS_WITH_AS(stage1::check_options(decls, {{"acel", "tcg"}}, "s1"),
                       doctest::Contains("has no such option (it takes accel, cpus, memory, debug)"), Error);
  CHECK_THROWS_WITH_AS(stage1::check_options(decls, {{"accel", "hvf"}}, "s1"), doctest::Contains("takes one of kvm, tcg"),
                       Error);
  CHECK_THROWS_WITH_AS(stage1::check_options(decls, {{"cpus", "9"}}, "s1"), doctest::Contains("from 1 to 8"), Error);
  CHECK_THROWS_WITH_AS(stage1::check_options(decls, {{"memory", "lots"}}, "s1"), doctest::Contains("size"), Error);
  CHECK_THROWS_WITH_AS(stage1::check_options({}, {{"x", "1"}}, "s1"), doctest::Contains("it takes none"), Error);
  CHECK(stage1::parse_size("64Mi") == 64u << 20);
  CHECK(stage1::parse_size("3k") == 3000u);
  CHECK_FALSE(stage1::parse_size("99999999999999999999"));
  CHECK_FALSE(stage1::parse_size("1.5G"));
  const auto bad = nlohmann::json::parse(R"({"name": "s", "annotations": [{"name": "pod/stage1/options",
    "value": "[{\"name\": \"x\", \"type\": \"float\"}]"}]})");
  CHECK_THROWS_WITH_AS(stage1::declared_options(bad), doctest::Contains("\"float\" is not string"), Error);
}
