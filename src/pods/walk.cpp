#include "pods/walk.hpp"

#include <fcntl.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <map>

#include "util/error.hpp"
#include "util/fs.hpp"
#include "util/uuid.hpp"

namespace pod {

namespace {
// UUID -> the first (earliest in the lifecycle) state dir it was listed in.
// Dirs are listed in lifecycle order and pods only move forward, so a pod
// that moves while we list is still seen once.
std::map<std::string, PodDir> listed_pods(const Store& store, std::initializer_list<PodDir> dirs) {
  std::map<std::string, PodDir> names;
  for (PodDir d : dirs)
    for (auto& n : list_dir(store.dir_fd(d)))
      if (is_canonical_uuid(n)) names.emplace(std::move(n), d);
  return names;
}

std::vector<std::string> all_uuids(const Store& store, std::initializer_list<PodDir> dirs) {
  std::vector<std::string> out;
  for (auto& [u, d] : listed_pods(store, dirs)) out.push_back(u);
  return out;
}
}  // namespace

void walk_pods(const Store& store, StateMask mask, const std::function<void(Pod&, PodState)>& fn) {
  for (const auto& [uuid, seen_in] : listed_pods(store, {PodDir::Embryo, PodDir::Prepare, PodDir::Prepared, PodDir::Run,
                                                         PodDir::ExitedGarbage, PodDir::Garbage})) {
    auto p = Pod::try_open(store, uuid, seen_in);
    if (!p) continue;
    PodState s = p->state();
    if (s == PodState::Gone || !(mask & mask_of(s))) continue;
    fn(*p, s);
  }
}

Pod lookup_pod(const Store& store, const std::string& arg) {
  std::string want = arg;
  std::transform(want.begin(), want.end(), want.begin(), [](unsigned char c) { return std::tolower(c); });
  if (want.empty()) throw usage_error("UUID cannot be empty");
  if (is_canonical_uuid(want)) return Pod::open(store, want);
  if (want.size() > 36 || want.find_first_not_of("0123456789abcdef-") != std::string::npos)
    throw Error("\"" + arg + "\" is not a pod UUID or UUID prefix", EINVAL, ErrorKind::Usage).with_item(arg);
  std::vector<std::string> hits;
  for (const auto& u : all_uuids(store, {PodDir::Prepare, PodDir::Prepared, PodDir::Run, PodDir::ExitedGarbage,
                                         PodDir::Garbage}))
    if (u.compare(0, want.size(), want) == 0) hits.push_back(u);
  if (hits.empty()) throw Error("no pod matches \"" + arg + "\"", ENOENT, ErrorKind::NotFound).with_item(arg);
  if (hits.size() > 1) {
    std::string list;
    for (size_t i = 0; i < hits.size() && i < 5; ++i) list += (i ? ", " : "") + hits[i];
    if (hits.size() > 5) list += ", ...";
    throw Error("ambiguous UUID prefix \"" + arg + "\": " + std::to_string(hits.size()) + " pods match (" + list +
                    "); give more characters",
                EINVAL, ErrorKind::Usage)
        .with_item(arg);
  }
  return Pod::open(store, hits.front());
}

void save_uuid_file(const std::string& path, const std::string& uuid) {
  write_file_atomic_at(AT_FDCWD, path, uuid + "\n", 0644);
}

std::string read_uuid_file(const std::string& path) {
  std::string s;
  try {
    s = read_file(path, 4096);
  } catch (const Error& e) {
    throw Error("cannot read UUID file: " + std::string(e.what()), e.errnum(), ErrorKind::Usage);
  }
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  if (s.empty()) throw usage_error("UUID file " + path + " is empty");
  return s;
}

}  // namespace pod
