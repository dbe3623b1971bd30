// The typed contract's pod manifest and runtime.json parsers
// (src/contract/manifest.cpp, runtime.cpp), which stage0, both stage1s, the kvm
// host and the pod init share. Input: a pod manifest, a NUL byte, then
// runtime.json. Whatever is accepted must serialize and read back equal (the
// round trip every reader relies on), and what serialize writes must parse.
// fuzz-options: -max_len=16384
#include "contract/manifest.hpp"
#include "contract/runtime.hpp"
#include "fuzz.hpp"
#include "util/error.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto [manifest, runtime] = podfuzz::split_at(podfuzz::as_string(data, size), '\0');
  try {
    const pod::contract::PodManifest m = pod::contract::parse_pod_manifest(manifest);
    const std::string text = pod::contract::serialize(m);
    FUZZ_CHECK(pod::contract::parse_pod_manifest(text) == m, text);
  } catch (const pod::Error&) {
  }
  try {
    const pod::contract::Runtime r = pod::contract::parse_runtime(runtime);
    FUZZ_CHECK(pod::contract::parse_runtime(pod::contract::serialize(r)) == r, runtime);
  } catch (const pod::Error&) {
  }
  return 0;
}
