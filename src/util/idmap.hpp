// User namespaces with a shifted id range, and idmapped mounts through them
// (mount_setattr(2) MOUNT_ATTR_IDMAP, Linux >= 5.12): what --private-users
// runs a root pod with (Documentation/isolation.md).
#pragma once
#include <sys/types.h>

#include <cstdint>
#include <string>

#include "util/fs.hpp"

namespace pod {

// The same map for uids and gids: ids 0..count-1 inside are base..base+count-1 outside.
struct IdShift {
  uint32_t base = 0, count = 0;
};

// Write `shift` as the uid and gid map of `pid`'s user namespace (we must be
// root, or own it with the ids mapped; done once, before the process uses it).
void write_id_maps(pid_t pid, const IdShift& shift);

// A user namespace with `shift` and nothing in it, as an fd (for
// MOUNT_ATTR_IDMAP): made by a short-lived child that is gone on return.
UniqueFd make_user_namespace(const IdShift& shift);

// Mount a clone of the tree at `src` (with what is mounted below it when
// `recursive`) on `dst`, idmapped through `userns`: a file owned by uid N on
// disk shows as base+N, and a process of the namespace creating a file as
// base+N writes N. An error names the path and, for EINVAL/EPERM, says that
// its filesystem or kernel has no idmapped mounts.
void idmapped_bind(const std::string& src, const std::string& dst, int userns, bool recursive);

// Give every file below `dir` (not crossing into other mounts) the shifted
// owner: uid N < count becomes base+N, gid likewise; ids shifted already and
// ids past the range stay. Setuid/setgid bits, which chown clears, are kept.
// For a tree of the pod's own (a --no-overlay copy).
void shift_tree_owners(const std::string& dir, const IdShift& shift);

// Can `dir`'s filesystem be idmapped here? Tried on a clone that is never attached.
bool supports_idmapped_mounts(const std::string& dir, int userns);

}  // namespace pod
