// Rootless pods (Documentation/rootless.md): an unprivileged user's `pod`
// runs in a user namespace of its own, where it is uid 0, mapped from the
// user's /etc/subuid and /etc/subgid ranges through newuidmap/newgidmap (or,
// without ranges, a single-uid mapping: the user's uid is 0, nothing else is
// mapped). Everything it does to its data dir (extraction with the images'
// owners, overlay mounts, the pod's namespaces) happens there; the pod's init
// and apps live in the same user namespace.
#pragma once
#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <vector>
#include <string>

namespace pod::rootless {

// One line of /etc/subuid or /etc/subgid: `count` ids from `start`.
struct IdRange {
  uint32_t start = 0, count = 0;
};

// One entry of /etc/subuid or /etc/subgid. `range` is nullopt for a malformed
// one, `where` says "FILE line N".
struct SubIdEntry {
  std::string owner;  // a user name or a numeric id
  std::optional<IdRange> range;
  std::string where;
};
// Every entry of `file` (comments and blank lines skipped); empty when the
// file is absent.
std::vector<SubIdEntry> sub_id_entries(const std::string& file);

// The first range `file` gives the user (by name or by numeric id); nullopt
// when the file or the user's entry is absent. A malformed entry of the user
// is an error naming the file and line.
std::optional<IdRange> sub_range(const std::string& file, const std::string& user, uint32_t id);

enum class Mapping { kNone, kSubIds, kSingle };

// True when this process is not root on the host: its euid is not 0, or it
// made its user namespace with enter_user_namespace() (uid 0 there is the user
// outside). Root in someone else's user namespace (a container) counts as root.
bool active();
// The host uid / gid this process acts as (uid 0 of its user namespace, seen from outside).
uid_t host_uid();
gid_t host_gid();

// When not root on the host: creates the user namespace (and a mount namespace
// owned by it) and becomes uid 0 there. Must be called while single-threaded.
// Does nothing as root (euid 0). Returns the
// mapping made (kNone when none was needed).
Mapping enter_user_namespace();
// "subuid 100000+65536" / "single uid 1000" / "none": for `pod status` and debug output.
std::string describe_mapping();

// The per-user defaults: $XDG_DATA_HOME/pod (else ~/.local/share/pod) and
// $XDG_CONFIG_HOME/pod (else ~/.config/pod).
std::string default_data_dir();
std::string config_dir();

}  // namespace pod::rootless
