// The configuration file: /etc/pod/pod.json, or the file $POD_CONFIG names
// (Documentation/configuration.md). Small and typed: one struct per section,
// every key known; an unknown key is an error naming it, so that a typo is
// never silently ignored. Command-line flags override what it says.
#pragma once
#include <cstdint>
#include <string>

namespace pod::config {

inline constexpr const char* kDefaultPath = "/etc/pod/pod.json";

struct Images {
  // "maxUncompressedSize": bytes, or "2G", "512Mi" (the stage1 option sizes:
  // k/K, M, G, T are powers of 1000; Ki, Mi, Gi, Ti of 1024); 0 = no limit
  uint64_t max_uncompressed = 0;
  uint64_t max_entries = 0;       // "maxEntries": a count; 0 = the built-in ceiling
};

struct Config {
  Images images;
  std::string path;  // the file it came from; empty = built-in defaults (no file)
};

// Parses a configuration document; `where` names it in errors.
Config parse(const std::string& text, const std::string& where);

// $POD_CONFIG (which must exist) when set, else kDefaultPath when it exists,
// else the built-in defaults. Throws Error(ErrorKind::Invalid) on a bad file.
Config load();

}  // namespace pod::config
