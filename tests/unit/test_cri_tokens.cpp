// The CRI streaming server's token cache (src/cri/stream_tokens.hpp): single-use, bounded lifetime, bounded count.
#include <doctest/doctest.h>

#include <thread>

#include "cri/stream_tokens.hpp"
#include "util/error.hpp"

using namespace pod::cri;

TEST_CASE("cri stream tokens: taken once, with their request") {
  TokenCache c;
  const std::string t = c.put(ExecRequest{"u", "a", {"sh"}, true, true, false, false});
  CHECK(t.size() == 32);
  CHECK(t.find_first_not_of("0123456789abcdef") == std::string::npos);
  CHECK(c.put(PortForwardRequest{"u", {80}}) != t);
  auto r = c.take(t);
  REQUIRE(r);
  const auto& e = std::get<ExecRequest>(*r);
  CHECK((e.uuid == "u" && e.app == "a" && e.cmd == std::vector<std::string>{"sh"} && e.in && e.out && !e.err));
  CHECK_FALSE(c.take(t));
  CHECK_FALSE(c.take("0123456789abcdef0123456789abcdef"));
  CHECK_FALSE(c.take(""));
}

TEST_CASE("cri stream tokens: expire unused") {
  TokenCache c(std::chrono::milliseconds(50));
  const std::string t = c.put(PortForwardRequest{"u", {80}});
  const std::string kept = c.put(PortForwardRequest{"u", {81}});
  CHECK(c.take(kept));
  std::this_thread::sleep_for(std::chrono::milliseconds(80));
  CHECK_FALSE(c.take(t));
}

TEST_CASE("cri stream tokens: at most kMaxPending wait") {
  TokenCache c;
  for (size_t i = 0; i < TokenCache::kMaxPending; ++i) c.put(PortForwardRequest{"u", {80}});
  CHECK_THROWS_WITH_AS(c.put(PortForwardRequest{"u", {80}}),
                       "too many streaming requests pending (1024): try again within a minute", pod::Error);
}
