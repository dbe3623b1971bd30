// Enumerating and finding pods.
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "pods/pod.hpp"

namespace pod {

// Visit every pod whose current state is in `mask`, sorted by UUID. Pods that
// move while we walk are re-classified; pods that vanish are skipped.
void walk_pods(const Store& store, StateMask mask, const std::function<void(Pod&, PodState)>& fn);

// Find a pod by full UUID or unique prefix (case-insensitive). Errors:
// empty -> usage; no match -> not found; several -> ambiguous, listing them.
Pod lookup_pod(const Store& store, const std::string& uuid_or_prefix);

// --uuid-file support.
void save_uuid_file(const std::string& path, const std::string& uuid);
std::string read_uuid_file(const std::string& path);

}  // namespace pod
