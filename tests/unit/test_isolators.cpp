// The isolator parser (src/isolators/): flags and image isolators to typed
// limits, and the errors that name the flag or the isolator.
#include <doctest/doctest.h>

#include <cerrno>
#include <linux/capability.h>

#include "helpers.hpp"
#include "isolators/isolators.hpp"
#include "isolators/policy.hpp"
#include "util/error.hpp"

using namespace pod;
using namespace pod::isolators;
using nlohmann::json;
using podtest::error_message;

namespace {
Isolators one(const std::string& name, json value) { return parse({{name, std::move(value)}}, "app a"); }
}  // namespace

TEST_CASE("isolators: quantities") {
  CHECK(parse_quantity("32M") == 32000000u);
  CHECK(parse_quantity("32Mi") == 32u << 20);
  CHECK(parse_quantity("1Gi") == 1u << 30);
  CHECK(parse_quantity("4096") == 4096u);
  CHECK(parse_quantity("2k") == 2000u);
  for (const char* bad : {"", "-1", "12X", "M", "1.5G", "99999999999999999999", "32 M"}) CHECK(!parse_quantity(bad));
  CHECK(parse_cpu_milli("500m") == 500u);
  CHECK(parse_cpu_milli("2") == 2000u);
  CHECK(parse_cpu_milli("1.5") == 1500u);
  CHECK(parse_cpu_milli("0.25") == 250u);
  for (const char* bad : {"", "m", "-1", "1.2345", "abc", "1..2", "5mm"}) CHECK(!parse_cpu_milli(bad));
}

TEST_CASE("isolators: names through libcap, libseccomp and the C library") {
  CHECK(capability("CAP_CHOWN") == CAP_CHOWN);
  CHECK(capability("net_admin") == CAP_NET_ADMIN);
  CHECK(!capability("CAP_BOGUS"));
  CHECK(!capability("12"));
  CHECK(capability_name(CAP_SYS_ADMIN) == "CAP_SYS_ADMIN");
  CHECK(errno_value("ENOSYS") == ENOSYS);
  CHECK(errno_value("EPERM") == EPERM);
  CHECK(!errno_value("ENOPE"));
  CHECK(seccomp_group("@mount"));
  CHECK(!seccomp_group("@nope"));
}

TEST_CASE("isolators: typed values") {
  auto m = one(kMemory, {{"limit", "64Mi"}, {"request", "1M"}});
  CHECK(m.memory_limit == 64u << 20);
  CHECK(m.memory_request == 1000000u);
  CHECK(m.needs_cgroups());
  CHECK(one(kCpu, {{"limit", "250m"}}).cpu_limit_milli == 250u);
  CHECK(one(kCpuShares, 512).cpu_shares == 512u);
  CHECK(one(kPids, {{"limit", 10}}).pids_limit == 10u);
  CHECK(one(kOomScoreAdj, -500).oom_score_adj == -500);
  CHECK(one(kNoNewPrivs, false).no_new_privs == false);
  auto caps = one(kCapsRetain, {{"set", {"CAP_CHOWN", "kill"}}});
  REQUIRE(caps.caps_retain);
  CHECK(*caps.caps_retain == std::vector<int>{CAP_CHOWN, CAP_KILL});
  CHECK(!caps.needs_cgroups());
  auto sc = one(kSeccompRemove, {{"set", {"mkdir", "@swap"}}, {"errno", "ENOSYS"}});
  REQUIRE(sc.seccomp);
  CHECK(!sc.seccomp->retain);
  CHECK(sc.seccomp->errnum == ENOSYS);
  CHECK(sc.seccomp->syscalls.size() == 3);
  CHECK(one(kSeccompRetain, {{"set", {"@appc.io/all"}}}).seccomp->all);
}

TEST_CASE("isolators: bad values name the isolator") {
  auto msg = [](const std::string& name, json v) { return error_message([&] { (void)one(name, v); }); };
  CHECK(msg(kMemory, {{"limit", "-1"}}) ==
        "app a: isolator resource/memory: limit \"-1\" is not a size (a positive number of bytes, optionally with k, M, "
        "G, Ki, Mi or Gi)");
  CHECK(msg(kMemory, {{"limit", "lots"}}).find("\"lots\" is not a size") != std::string::npos);
  CHECK(msg(kMemory, "32M") == "app a: isolator resource/memory: the value must be an object, not \"32M\"");
  CHECK(msg(kCpu, {{"limit", "fast"}}).find("is not a CPU amount") != std::string::npos);
  CHECK(msg(kCapsRemove, {{"set", {"CAP_NOPE"}}}) ==
        "app a: isolator os/linux/capabilities-remove-set: unknown capability \"CAP_NOPE\"");
  CHECK(msg(kSeccompRemove, {{"set", {"nosuchcall"}}}) ==
        "app a: isolator os/linux/seccomp-remove-set: unknown system call \"nosuchcall\"");
  CHECK(msg(kSeccompRemove, {{"set", {"mkdir"}}, {"errno", "EWHAT"}}) ==
        "app a: isolator os/linux/seccomp-remove-set: errno: unknown errno name \"EWHAT\"");
  CHECK(msg(kOomScoreAdj, 2000) == "app a: isolator os/linux/oom-score-adj: 2000 is not a whole number from -1000 to 1000");
  CHECK(msg(kCpuShares, 1).find("from 2 to 262144") != std::string::npos);
  CHECK(msg(kNoNewPrivs, "yes").find("is not true or false") != std::string::npos);
}

TEST_CASE("isolators: unknown names warn") {
  std::vector<std::string> warnings;
  auto iso = parse({{"example.com/thing", 1}, {kPids, {{"limit", 5}}}}, "app a", &warnings);
  CHECK(iso.pids_limit == 5u);
  REQUIRE(warnings.size() == 1);
  CHECK(warnings[0] == "app a: isolator example.com/thing: unknown isolator, ignored");
}

TEST_CASE("isolators: flags become isolators and replace the image's") {
  CHECK(from_flag("--memory", "32M") == contract::Isolator{kMemory, {{"limit", "32M"}}});
  CHECK(from_flag("--oom-score-adj", "-5") == contract::Isolator{kOomScoreAdj, -5});
  CHECK(from_flag("--seccomp", "mode=remove,errno=ENOSYS,mkdir,@swap") ==
        contract::Isolator{kSeccompRemove, {{"errno", "ENOSYS"}, {"set", {"mkdir", "@swap"}}}});
  auto flag_msg = [](const char* f, const char* v) { return error_message([&] { (void)from_flag(f, v); }); };
  CHECK(flag_msg("--memory", "-1") ==
        "--memory=-1: limit \"-1\" is not a size (a positive number of bytes, optionally with k, M, G, Ki, Mi or Gi)");
  CHECK(flag_msg("--caps-retain", "CAP_CHOWN,CAP_X") == "--caps-retain=CAP_CHOWN,CAP_X: unknown capability \"CAP_X\"");
  CHECK(flag_msg("--seccomp", "mkdir") == "--seccomp=mkdir: needs mode=retain or mode=remove");
  CHECK(flag_msg("--pids-limit", "ten") == "--pids-limit=ten: not a whole number");
  CHECK_THROWS_AS(from_flag("--memory", "x"), Error);
  try {
    (void)from_flag("--memory", "x");
  } catch (const Error& e) {
    CHECK(e.kind() == ErrorKind::Usage);
  }

  const std::vector<contract::Isolator> image = {{kMemory, {{"limit", "1G"}}},
                                                 {kCapsRetain, {{"set", {"CAP_CHOWN"}}}},
                                                 {kOomScoreAdj, 10}};
  Flags f;
  f.memory = "32M";
  f.caps_remove = "CAP_KILL";
  const auto merged = merge(image, f);
  REQUIRE(merged.size() == 3);
  CHECK(merged[0] == contract::Isolator{kOomScoreAdj, 10});  // kept from the image
  CHECK(merged[1] == contract::Isolator{kMemory, {{"limit", "32M"}}});
  CHECK(merged[2] == contract::Isolator{kCapsRemove, {{"set", {"CAP_KILL"}}}});  // replaces the image's retain set
  Flags both;
  both.caps_retain = "CAP_CHOWN";
  both.caps_remove = "CAP_KILL";
  CHECK(error_message([&] { (void)merge({}, both); }) == "give only one of --caps-retain and --caps-remove");
}

TEST_CASE("isolators: a stage1 that cannot enforce an isolator") {
  contract::PodManifest m;
  contract::RuntimeApp ra;
  ra.name = "a";
  ra.image.name = "x";
  ra.app.exec = {"/bin/true"};
  ra.app.isolators = {{kMemory, {{"limit", "32M"}}}, {"example.com/other", 1}};
  m.apps.push_back(ra);
  std::vector<std::string> warned;
  auto warn = [&](const std::string& w) { warned.push_back(w); };
  CHECK(error_message([&] { check_pod(m, {kCpu}, "s1", false, warn); }) ==
        "app a: isolator resource/memory cannot be enforced by the stage1 s1 (--insecure-options=isolators runs the pod "
        "without it)");
  warned.clear();
  contract::PodManifest insecure = m;
  check_pod(insecure, {kCpu}, "s1", true, warn);
  CHECK(warned.size() == 2);
  // What cannot be enforced is not in the manifest the pod runs with.
  CHECK(insecure.apps[0].app.isolators == std::vector<contract::Isolator>{{"example.com/other", 1}});
  warned.clear();
  check_pod(m, {kMemory}, "s1", false, warn);
  CHECK(warned.size() == 1);  // the unknown one
  CHECK(stage1_enforces(json::parse(R"({"annotations":[{"name":"pod/stage1/isolators","value":"a,b"}]})")) ==
        std::vector<std::string>{"a", "b"});
}
