// Ordered start and sandboxes in the pod manifest (Documentation/stage1-abi.md,
// "Apps in a running pod" and "Ordered start"): two annotations stage0 writes
// and the pod init reads.
//
//   pod manifest annotation  pod/sandbox = "true"   the pod may have no apps and runs until stopped
//   app annotation           pod/after   = "a,b"    this app starts after a and b have started,
//                                                   and is stopped before them
//                            pod/after   = "a:ready" ... only once a has sent READY=1 (sd_notify)
//                            pod/volumes = "v,w"    the pod gained volumes v and w with this app (add_app);
//                                                   removing it drops those no other app mounts
//
// Compiled into the static pod init too: nlohmann_json and util/error only.
#pragma once
#include <string>
#include <vector>

#include "contract/manifest.hpp"

namespace pod::contract {

inline constexpr const char* kAnnSandbox = "pod/sandbox";
inline constexpr const char* kAnnAfter = "pod/after";
inline constexpr const char* kAnnVolumes = "pod/volumes";

bool is_sandbox(const PodManifest& m);
// One element of pod/after: NAME, or NAME:ready (start once NAME is ready).
struct AfterEntry {
  std::string name;
  bool ready = false;
};
// An app's pod/after annotation as written (empty when it has none).
std::vector<AfterEntry> app_after_entries(const RuntimeApp& a);
// The names of an app's pod/after annotation (empty when it has none), with or without :ready.
std::vector<std::string> app_after(const RuntimeApp& a);
// Those of them it waits for to be ready (NAME:ready).
std::vector<std::string> app_after_ready(const RuntimeApp& a);
// "a,b:ready" -> {a}, {b, ready}; an empty element, one that is not an app
// name or a condition other than ":ready" is an error naming `what`.
std::vector<AfterEntry> parse_after_entries(const std::string& value, const std::string& what);
// The names only: "a,b:ready" -> {"a", "b"}.
std::vector<std::string> parse_after(const std::string& value, const std::string& what);

// The volumes an app brought to the pod (its pod/volumes annotation; empty when it has none).
std::vector<std::string> app_brought_volumes(const RuntimeApp& a);
// The volumes of `m` that go with app `app` when it is removed: those its pod/volumes annotation names that
// no other app mounts (empty when it has no such annotation or no such app).
std::vector<std::string> app_own_volumes(const PodManifest& m, const std::string& app);

// Check every app's pod/after: each names another app of `m`, and there is no
// cycle. Throws pod::Error (Usage) naming the app and the cycle
// ("app ordering has a cycle: a -> b -> a").
void check_app_order(const PodManifest& m);
// Indexes of `apps` (name, the names it starts after) in start order: every
// app after the ones it names, otherwise in the order given (names of no app
// are skipped; check_app_order rules out cycles first).
using AppDeps = std::vector<std::pair<std::string, std::vector<std::string>>>;
std::vector<size_t> start_order(const AppDeps& apps);

}  // namespace pod::contract
