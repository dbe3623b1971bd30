// The appc isolators of an app, typed and validated: one parser used by
// stage0 at prepare time (flags and image manifests) and by the pod init that
// enforces them (Documentation/isolation.md).
//
// Compiled into the static pod init too: depends on nlohmann_json,
// util/error, contract/manifest, libcap and libseccomp (names only).
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <pod/spec.hpp>
#include <string>
#include <vector>

#include "contract/manifest.hpp"

namespace pod::isolators {

// appc isolator names this parser knows (and the pod extension resource/pids).
inline constexpr const char* kMemory = "resource/memory";
inline constexpr const char* kCpu = "resource/cpu";
inline constexpr const char* kPids = "resource/pids";  // pod extension: {"limit": N}
inline constexpr const char* kCapsRetain = "os/linux/capabilities-retain-set";
inline constexpr const char* kCapsRemove = "os/linux/capabilities-remove-set";
inline constexpr const char* kNoNewPrivs = "os/linux/no-new-privileges";
inline constexpr const char* kSeccompRetain = "os/linux/seccomp-retain-set";
inline constexpr const char* kSeccompRemove = "os/linux/seccomp-remove-set";
inline constexpr const char* kOomScoreAdj = "os/linux/oom-score-adj";
inline constexpr const char* kCpuShares = "os/linux/cpu-shares";

// Every name above, in that order.
const std::vector<std::string>& known_names();
// Names of the appc spec this runtime does not implement (resource/block-*,
// resource/network-bandwidth, os/linux/selinux-context, …): parse() skips
// them; prepare refuses them like an isolator a flavour cannot enforce.
bool is_appc_unimplemented(const std::string& name);

struct Seccomp {
  bool retain = false;             // retain: only `syscalls` allowed; remove: `syscalls` fail
  bool all = false;                // retain @appc.io/all: no filter of the app's own
  std::vector<std::string> set;    // as written (names and @groups)
  std::vector<int> syscalls;       // resolved numbers (native architecture), groups expanded
  int errnum = 0;                  // errno of a refused call (0: EPERM)
  std::string errno_name;          // as written, "" = default
};

// The typed view of one app's isolators. Unset = not asked for.
struct Isolators {
  std::optional<uint64_t> memory_limit, memory_request;  // bytes
  std::optional<uint64_t> cpu_limit_milli, cpu_request_milli;  // 1000 = one CPU
  std::optional<uint64_t> cpu_shares;
  std::optional<uint64_t> pids_limit;
  std::optional<std::vector<int>> caps_retain, caps_remove;  // capability numbers
  std::optional<bool> no_new_privs;
  std::optional<Seccomp> seccomp;
  std::optional<int> oom_score_adj;

  bool needs_cgroups() const { return memory_limit || cpu_limit_milli || cpu_shares || pids_limit; }
};

// Parse and validate. Errors are pod::Error (Invalid) naming `where` and the
// isolator: "app web: isolator resource/memory: limit \"-1\" is not a size…".
// Names this parser does not know are skipped; `warnings` (if given) gets one
// line for each.
Isolators parse(const std::vector<contract::Isolator>& isos, const std::string& where,
                std::vector<std::string>* warnings = nullptr);

// The per-app flags (`--memory=32M` …), as strings; unset = not given.
using Flags = pod::IsolatorSpec;

// The isolators an app runs with: the image's, with each one a flag gives
// replaced (a capability or seccomp flag replaces both sets of its kind).
// Validates the flags (usage errors naming the flag) and the result.
// `defaults` (the configuration's limits) come under the image's: each is used only when neither the
// image nor a flag sets that isolator.
std::vector<contract::Isolator> merge(const std::vector<contract::Isolator>& image, const Flags& flags,
                                      const Flags& defaults = {});

// The isolator of one flag (`--memory` -> resource/memory …); usage error naming the flag.
contract::Isolator from_flag(const std::string& flag, const std::string& value);

// Sizes: 123, 32M (10^6), 32Mi (2^20), k/K/M/G/T, Ki/Mi/Gi/Ti. nullopt: not a size.
std::optional<uint64_t> parse_quantity(const std::string& s);
// CPUs: "500m" (milli-CPUs), "2", "1.5". nullopt: not a CPU amount.
std::optional<uint64_t> parse_cpu_milli(const std::string& s);
// "CAP_CHOWN" / "chown" -> number (libcap); nullopt when unknown.
std::optional<int> capability(const std::string& name);
std::string capability_name(int cap);  // "CAP_CHOWN"
// "EPERM" -> 1 (from the C library's names); nullopt when unknown.
std::optional<int> errno_value(const std::string& name);
// "@mount" -> its syscall names; nullopt for an unknown group.
std::optional<std::vector<std::string>> seccomp_group(const std::string& name);

// One line per isolator for `pod status`: "resource/memory limit=32M".
std::string describe(const contract::Isolator& iso);

}  // namespace pod::isolators
