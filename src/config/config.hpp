// The configuration: layered files (Documentation/configuration.md), each
// later one overriding the earlier ones key by key:
//   vendor  /usr/lib/pod/pod.json   ($POD_VENDOR_CONFIG instead, for tests and packagers)
//   system  /etc/pod/pod.json       ($POD_CONFIG instead, which must then exist)
//   local   <data dir>/pod.json
// Small and typed: one struct per section, every key known; an unknown key is
// an error naming the file and the key, so that a typo is never silently
// ignored. Command-line flags override what it says.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace pod::config {

inline constexpr const char* kDefaultPath = "/etc/pod/pod.json";
inline constexpr const char* kVendorPath = "/usr/lib/pod/pod.json";

struct Images {
  // "maxUncompressedSize": bytes, or "2G", "512Mi" (the stage1 option sizes:
  // k/K, M, G, T are powers of 1000; Ki, Mi, Gi, Ti of 1024); 0 = no limit
  uint64_t max_uncompressed = 0;
  uint64_t max_entries = 0;       // "maxEntries": a count; 0 = the built-in ceiling
};

struct Paths {
  // "dataDir": absolute; used when neither --dir nor $POD_DIR is given. Only the vendor and system
  // layers may set it (the local layer lives in the data dir).
  std::string data_dir;
};

struct Stage1 {
  // "defaultFlavor": a flavour stage1.json names; pods get it without --stage1-* flags (and without
  // $POD_STAGE1_PATH / $POD_STAGE1_FLAVOR).
  std::string default_flavor;
};

struct Auth {
  // "registryAuthFile": absolute path of registry credentials (auth.json format), searched before the
  // usual places.
  std::string registry_file;
};

struct Config {
  Images images;
  Paths paths;
  Stage1 stage1;
  Auth auth;
  std::string path;  // the last file read; empty = built-in defaults (no file)
  // "images.maxEntries" -> the file that set it (keys no file sets are absent: built-in default).
  std::map<std::string, std::string> sources;
  std::vector<std::string> files;  // every file read, in order
};

// Parses a configuration document over `base`; `where` names it in errors and sources. `local`: the
// data dir's own layer (which cannot move the data dir).
Config parse(const std::string& text, const std::string& where, Config base = {}, bool local = false);

// The layers above, those that exist; data_dir "" leaves the local layer out.
// Throws Error(ErrorKind::Invalid) on a bad file.
Config load(const std::string& data_dir = "");

}  // namespace pod::config
