// Early "would it fit" checks against the file system holding the image
// store, so that a fetch that cannot succeed fails before it writes anything
// (Documentation/images.md, "Space checks"). Extraction still checks free
// space as it goes, and ENOSPC midway fails with its own error; either way
// the staging dir goes with the failed fetch.
#pragma once
#include <cstdint>
#include <string>

namespace pod::images {

// Throws Error(ENOSPC) "not enough space in the image store (<where>): need ~X
// MiB, Y MiB free" when `need` bytes exceed what the file system of dirfd has
// free for us (f_bavail), and Error(EROFS) when it is mounted read-only.
// `where` names the place in the message (the store's path).
void check_free_space(int dirfd, uint64_t need, const std::string& where);

// Error(EROFS) "the image store (<where>) is on a read-only file system; nothing can be written".
[[noreturn]] void throw_read_only_store(const std::string& where);

// MiB, rounded up, for messages ("~X MiB").
uint64_t mib_ceil(uint64_t bytes);

}  // namespace pod::images
