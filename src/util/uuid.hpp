#pragma once
#include <cstddef>
#include <string>

namespace pod {

// n bytes from the kernel's CSPRNG (getrandom), and the same as 2n hex digits.
std::string random_bytes(size_t n);
std::string random_hex(size_t n);
// A random RFC 4122 version-4 UUID in canonical lowercase form.
std::string new_uuid();
// True for a canonical lowercase UUID (8-4-4-4-12 hex).
bool is_canonical_uuid(const std::string& s);

}  // namespace pod
