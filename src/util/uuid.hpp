#pragma once
#include <string>

namespace pod {

// A random RFC 4122 version-4 UUID in canonical lowercase form.
std::string new_uuid();
// True for a canonical lowercase UUID (8-4-4-4-12 hex).
bool is_canonical_uuid(const std::string& s);

}  // namespace pod
