#include "run/privateusers.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <map>

#include "appc/image_manifest.hpp"
#include "pods/pod.hpp"
#include "rootless/userns.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"
#include "util/lock.hpp"
#include "util/split.hpp"

namespace pod::run {

namespace {

constexpr const char* kDir = "userns";
constexpr uint64_t kAutoFirst = 524288, kAutoLast = 0x6fff0000;  // as systemd-nspawn's --private-users=pick

struct Record {
  uint32_t base = 0, count = 0;
  std::string uuid;
};

uint64_t parse_id(const std::string& s, const std::string& what) {
  if (s.empty() || s.size() > 10 || s.find_first_not_of("0123456789") != std::string::npos)
    throw usage_error("--private-users: " + what + " \"" + s.substr(0, 32) + "\" is not a number");
  return std::stoull(s);
}

bool overlaps(uint64_t a, uint64_t an, uint64_t b, uint64_t bn) { return a < b + bn && b < a + an; }

// Every record; a malformed one (a torn write cannot make one: they are renamed into place) is an error.
std::map<uint32_t, Record> read_records(int dir) {
  std::map<uint32_t, Record> out;
  for (const auto& name : list_dir(dir)) {
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;  // a temp file of ours
    auto text = try_read_file_at(dir, name, 256);
    if (!text) continue;
    auto f = split(text->substr(0, text->find('\n')), ' ');
    if (f.size() != 2) throw Error("userns/" + name + " in the data dir is malformed: \"" + text->substr(0, 80) + "\"");
    Record r{static_cast<uint32_t>(std::stoull(name)), static_cast<uint32_t>(std::stoull(f[0])), f[1]};
    out[r.base] = r;
  }
  return out;
}

// The host's subordinate id ranges (any user's): an automatic pick stays out of them.
std::vector<IdShift> host_sub_ranges() {
  std::vector<IdShift> out;
  for (const char* file : {"/etc/subuid", "/etc/subgid"})
    for (const auto& e : rootless::sub_id_entries(file))
      if (e.range) out.push_back({e.range->start, e.range->count});  // a malformed one is newuidmap's to judge
  return out;
}

}  // namespace

std::optional<IdShift> parse_private_users(const std::string& value) {
  if (value.empty()) return std::nullopt;
  auto colon = value.find(':');
  const uint64_t base = parse_id(value.substr(0, colon), "UID");
  const uint64_t count = colon == std::string::npos ? kDefaultPrivateUsersCount : parse_id(value.substr(colon + 1), "COUNT");
  if (base == 0) throw usage_error("--private-users: UID 0 would map the pod's root to the host's root");
  if (count == 0) throw usage_error("--private-users: COUNT must be at least 1");
  if (base + count > 0xFFFFFFFFull)
    throw usage_error("--private-users: " + value + " goes past the last host id (4294967294)");
  return IdShift{static_cast<uint32_t>(base), static_cast<uint32_t>(count)};
}

PrivateUsersPlan check_private_users(const std::string& value, const nlohmann::json& stage1_manifest,
                                     const std::string& stage1_name, const std::vector<std::string>& dirs) {
  PrivateUsersPlan plan{parse_private_users(value == "auto" ? "" : value), ""};
  const auto& want = plan.want;
  if (rootless::active())
    throw usage_error("--private-users: a rootless pod runs in your user namespace already (Documentation/rootless.md)");
  if (appc::manifest_annotation(stage1_manifest, kAnnPrivateUsers).value_or("") != "true")
    throw Error("stage1 " + stage1_name + " cannot run a pod in a user namespace of its own (--private-users): its "
                "image does not declare " + kAnnPrivateUsers, ENOTSUP);
  UniqueFd ns = make_user_namespace({want ? want->base : uint32_t(kAutoFirst), 1});
  for (const auto& d : dirs)
    if (plan.no_idmap.empty() && !supports_idmapped_mounts(d, ns.get())) plan.no_idmap = d;
  return plan;
}

IdShift reserve_private_users(const Store& store, const std::string& uuid, const std::optional<IdShift>& want) {
  FileLock lock = FileLock::acquire(store.locks_fd(), kDir, LockMode::Exclusive);
  UniqueFd dir = mkdirs_at(store.root_fd(), kDir, 0700);
  auto records = read_records(dir.get());
  for (const auto& [b, r] : records)
    if (r.uuid == uuid) return {r.base, r.count};
  std::optional<IdShift> pick;
  if (want) {
    for (const auto& [b, r] : records)
      if (overlaps(want->base, want->count, r.base, r.count))
        throw usage_error("--private-users=" + std::to_string(want->base) + ":" + std::to_string(want->count) +
                          " overlaps the ids " + std::to_string(r.base) + ":" + std::to_string(r.count) + " of pod " +
                          r.uuid);
    pick = want;
  } else {
    const auto host = host_sub_ranges();
    for (uint64_t b = kAutoFirst; b + kDefaultPrivateUsersCount <= kAutoLast && !pick; b += kDefaultPrivateUsersCount) {
      auto clash = [&](uint64_t base, uint64_t count) { return overlaps(b, kDefaultPrivateUsersCount, base, count); };
      bool taken = false;
      for (const auto& [rb, r] : records) taken = taken || clash(r.base, r.count);
      for (const auto& h : host) taken = taken || clash(h.base, h.count);
      if (!taken) pick = IdShift{static_cast<uint32_t>(b), kDefaultPrivateUsersCount};
    }
    if (!pick) throw Error("--private-users: no free range of host ids is left for another pod", ENOSPC);
  }
  write_file_atomic_at(dir.get(), std::to_string(pick->base), std::to_string(pick->count) + " " + uuid + "\n", 0600);
  return *pick;
}

void release_private_users(const Store& store, const std::string& uuid) {
  FileLock lock = FileLock::acquire(store.locks_fd(), kDir, LockMode::Exclusive);
  UniqueFd dir = try_open_dir_at(store.root_fd(), kDir);
  if (!dir) return;
  for (const auto& [b, r] : read_records(dir.get()))
    if (r.uuid == uuid && ::unlinkat(dir.get(), std::to_string(b).c_str(), 0) < 0 && errno != ENOENT)
      throw_sys("cannot remove userns/" + std::to_string(b) + " from the data dir");
}

std::vector<std::string> sweep_private_users(const Store& store) {
  std::vector<std::string> gone;
  FileLock lock = FileLock::acquire(store.locks_fd(), kDir, LockMode::Exclusive);
  UniqueFd dir = try_open_dir_at(store.root_fd(), kDir);
  if (!dir) return gone;
  for (const auto& [b, r] : read_records(dir.get())) {
    if (Pod::try_open(store, r.uuid)) continue;  // in lifecycle order: a pod moving on is still found
    if (::unlinkat(dir.get(), std::to_string(b).c_str(), 0) < 0 && errno != ENOENT)
      throw_sys("cannot remove userns/" + std::to_string(b) + " from the data dir");
    gone.push_back(r.uuid);
  }
  return gone;
}

}  // namespace pod::run
