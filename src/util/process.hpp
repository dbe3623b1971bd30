// Running helper programs.
#pragma once
#include <string>
#include <vector>

namespace pod {

// Run argv (PATH lookup) with stdin from /dev/null, wait, and throw an Error
// quoting its stderr (tail) when it fails. Returns nothing on success.
void run_checked(const std::vector<std::string>& argv, const std::string& what);

}  // namespace pod
