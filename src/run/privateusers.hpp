// --private-users (Documentation/isolation.md): each such pod gets a range
// of host ids of its own for its user namespace, recorded in the data dir
// as userns/<base> ("<count> <uuid>"), under the lock locks/userns. A range
// is held from prepare until the pod is deleted; `pod gc` drops the record of
// a pod that is gone (a kill -9 between removing the pod and its record).
#pragma once
#include <nlohmann/json.hpp>
#include <optional>
#include <vector>
#include <string>

#include "pods/store.hpp"
#include "util/idmap.hpp"

namespace pod::run {

inline constexpr uint32_t kDefaultPrivateUsersCount = 65536;

// The flag's value: "" (a range is picked) -> nullopt; "UID:COUNT" or "UID"
// (count 65536). A bad value is a usage error naming the flag.
std::optional<IdShift> parse_private_users(const std::string& value);

inline constexpr const char* kAnnPrivateUsers = "pod/stage1/private-users";  // "true": the stage1 can

struct PrivateUsersPlan {
  std::optional<IdShift> want;  // the range asked for; nullopt: pick one
  // The first of the dirs whose filesystem takes no idmapped mounts; empty when
  // all do. Then the pod gets its own copies of its trees (no overlay of the
  // shared store trees) and its pod dir, all chowned to its ids at prepare.
  std::string no_idmap;
};

// Before a pod is made: the stage1 must declare kAnnPrivateUsers and the pod
// must not be rootless. `dirs` (the data dir, the image store) are probed for
// idmapped mounts, which keep the pod's files the host's on disk.
PrivateUsersPlan check_private_users(const std::string& value, const nlohmann::json& stage1_manifest,
                                     const std::string& stage1_name, const std::vector<std::string>& dirs);

// Reserve `want` for pod `uuid` (refused, naming the other pod, when it
// overlaps another pod's range), or else the first free block of 65536 ids
// from 524288 up that overlaps no pod's range and no range of /etc/subuid or
// /etc/subgid. Idempotent for the same uuid.
IdShift reserve_private_users(const Store& store, const std::string& uuid, const std::optional<IdShift>& want);

// Drop the record of pod `uuid`, if it has one.
void release_private_users(const Store& store, const std::string& uuid);

// Drop the records of pods that do not exist any more; returns their uuids.
std::vector<std::string> sweep_private_users(const Store& store);

}  // namespace pod::run
