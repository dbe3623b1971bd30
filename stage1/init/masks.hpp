// Masked and read-only paths of an app's /proc and /sys, as Docker and Podman
// ship them (Documentation/isolation.md "Masked paths"); turned off by
// --insecure-options=paths.
#pragma once
#include <string>
#include <vector>

namespace pod::init {

// Hidden: /dev/null over files, an empty read-only tmpfs over directories.
const std::vector<std::string>& masked_paths();
// Read-only.
const std::vector<std::string>& read_only_paths();

// Apply both inside the app's root `root` (its /proc and /sys already bound).
// Paths the kernel does not have are skipped.
void mask_paths(const std::string& root);

}  // namespace pod::init
