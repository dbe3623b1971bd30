// `pod fsck` of the pod store (Documentation/fsck.md): what does not belong in
// the state dirs, pods in two of them at once, and prepared or exited pods whose
// files are missing or malformed. A locked pod is live (preparing, running or
// being deleted) and is never touched; every fix takes the pod lock first.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <map>
#include <set>

#include "contract/manifest.hpp"
#include "contract/runtime.hpp"
#include "maintenance/fsck.hpp"
#include "pods/pod.hpp"
#include "pods/store.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"
#include "util/lock.hpp"
#include "util/mount.hpp"
#include "util/uuid.hpp"

namespace pod::fsck {

namespace {

// Whether dirfd/name is a directory someone holds locked (a live pod).
bool locked_dir(int dirfd, const std::string& name) {
  UniqueFd d = try_open_dir_at(dirfd, name);
  return d && exclusive_lock_held(d.get());
}

// Remove dirfd/name (path: its absolute path) unless it is locked: what is mounted below it first
// (never lazily: a busy mount fails the fix and the entry stays).
void remove_unlocked(int dirfd, const std::string& name, const std::string& path) {
  UniqueFd d = try_open_dir_at(dirfd, name);
  if (d) {
    if (!try_lock_fd(d.get(), LockMode::Exclusive, path))
      throw Error(path + " is locked (in use); left alone", EBUSY, ErrorKind::Conflict);
    if (auto rep = try_unmount_below(path); !rep.busy.empty())
      throw Error("mount " + rep.busy.front() + " is busy; left alone", EBUSY, ErrorKind::Conflict);
    remove_tree_at(dirfd, name);
  } else if (::unlinkat(dirfd, name.c_str(), 0) < 0 && errno != ENOENT) {
    throw_sys("cannot remove " + path);
  }
}

// What is wrong with the files of a pod that is not live, or "".
std::string pod_files_problem(const Pod& p, PodState s, const std::function<bool(const std::string&)>& tree_sealed) {
  auto manifest = try_read_file_at(p.fd(), poddir::kManifest, 4 << 20);
  if (!manifest) return std::string("its pod manifest (") + poddir::kManifest + ") is missing";
  try {
    contract::parse_pod_manifest(*manifest);
  } catch (const Error& e) {
    return std::string("its pod manifest is malformed: ") + e.what();
  }
  if (s != PodState::Prepared) return "";
  try {  // absent: every default (contract/runtime.hpp)
    contract::parse_runtime(try_read_file_at(p.fd(), poddir::kRuntime, 1 << 20).value_or(""));
  } catch (const Error& e) {
    return std::string(poddir::kRuntime) + " is malformed: " + e.what();
  }
  UniqueFd trees = try_open_dir_at(p.fd(), poddir::kTreesDir);
  for (const auto& t : trees ? list_dir(trees.get()) : std::vector<std::string>{})
    if (!tree_sealed(t)) return "it uses image tree " + t + ", which the image store no longer has";
  return "";
}

}  // namespace

void check_pods(const Store& store, const std::function<bool(const std::string&)>& tree_sealed, const Sink& found) {
  auto report = [&](const std::string& item, std::string problem, std::string action, std::function<void()> fix) {
    found({"pods", item, std::move(problem), std::move(action), std::move(fix)});
  };
  const std::string base = store.path() + "/pods";
  UniqueFd pods = open_dir_at(store.root_fd(), "pods");
  std::set<std::string> state_names;
  for (PodDir d : kAllPodDirs) state_names.insert(pod_dir_name(d));

  // pods/ holds the state dirs only: a pod dir there is in an impossible place.
  for (const auto& n : list_dir(pods.get())) {
    if (state_names.count(n) || locked_dir(pods.get(), n)) continue;
    report("pods/" + n, is_canonical_uuid(n) ? "a pod directory outside every state directory" : "not a state directory",
           "remove it", [&store, n, base] { remove_unlocked(open_dir_at(store.root_fd(), "pods").get(), n, base + "/" + n); });
  }

  // Each state dir: pod UUIDs only; each UUID in one state dir only.
  std::map<std::string, std::vector<PodDir>> seen;
  for (PodDir d : kAllPodDirs) {
    const int dfd = store.dir_fd(d);
    for (const auto& n : list_dir(dfd)) {
      const std::string item = std::string("pods/") + pod_dir_name(d) + "/" + n;
      struct stat st {};
      const bool is_dir = ::fstatat(dfd, n.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode);
      if (is_canonical_uuid(n) && is_dir) {
        seen[n].push_back(d);
        continue;
      }
      if (is_dir && locked_dir(dfd, n)) continue;
      report(item,
             stale_temp_name(n) ? "stale temp file (its writer died)"
                                : (is_dir ? "a directory that is not named by a pod UUID (a pod moved or renamed by hand?)"
                                          : "not a pod directory"),
             "remove it", [dfd, n, path = store.path() + "/" + item] { remove_unlocked(dfd, n, path); });
    }
  }

  for (const auto& [uuid, dirs] : seen) {
    if (dirs.size() > 1) {
      // A half-finished move (a power loss, or a copy by hand): keep the locked copy, else the one furthest
      // along its lifecycle (the rename's target); the others go.
      PodDir keep = dirs.back();
      for (PodDir d : dirs)
        if (locked_dir(store.dir_fd(d), uuid)) keep = d;
      for (PodDir d : dirs) {
        if (d == keep) continue;
        const std::string item = std::string("pods/") + pod_dir_name(d) + "/" + uuid;
        report(item, std::string("pod is also in pods/") + pod_dir_name(keep) + "/ (a move that did not finish)",
               std::string("remove this copy (the one in ") + pod_dir_name(keep) + "/ stays)",
               [&store, d, uuid, path = store.path() + "/" + item] { remove_unlocked(store.dir_fd(d), uuid, path); });
      }
      continue;
    }
    auto p = Pod::try_open(store, uuid, dirs.front());
    if (!p) continue;
    const PodState s = p->state();
    if (s != PodState::Prepared && s != PodState::Exited) continue;  // live, or gc's (aborted, garbage)
    const std::string why = pod_files_problem(*p, s, tree_sealed);
    if (why.empty()) continue;
    const std::string item = std::string("pods/") + pod_dir_name(dirs.front()) + "/" + uuid;
    if (s == PodState::Prepared)
      report(item, "prepared pod cannot run: " + why, "move it to pods/garbage/ (pod gc deletes it)", [&store, uuid] {
        if (auto q = Pod::try_open(store, uuid)) q->to_garbage();
      });
    else
      report(item, "exited pod: " + why, "move it to pods/exited-garbage/ (pod gc deletes it after the grace period)",
             [&store, uuid] {
               if (auto q = Pod::try_open(store, uuid)) q->to_exited_garbage();
             });
  }
}

}  // namespace pod::fsck
