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
#include <optional>
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
  // "options": default --stage1-opt values, {"NAME": "VALUE"} or ["NAME=VALUE"]; layered and overridden
  // by --stage1-opt NAME by NAME; checked against what the chosen stage1 declares, as the flag is.
  std::map<std::string, std::string> options;
  // "images": {"FLAVOR": "/abs/stage1.aci"}: the image a flavour of stage1.json resolves to instead of
  // stage1.json's; layered flavour by flavour. The file must exist when a pod is prepared.
  std::map<std::string, std::string> images;
};

struct Networks {
  // "default": the --net of a pod prepared without one (host, none, NAME[:CNI_ARGS][,NAME…]); "" = the
  // built-in default (default, or host for a stage1 that joins no CNI network).
  std::string default_net;
  // "configDirs": absolute dirs of CNI network files searched after /etc/pod/net.d and before
  // <data dir>/net.d (a later dir's network of the same name wins). A later layer's list replaces the
  // earlier one's.
  std::vector<std::string> config_dirs;
};

struct Trust {
  // "insecureOptions": the --insecure-options of fetch, run and prepare when the flag is not given
  // (a comma list or a list of strings; the flag's values), e.g. "image". Empty: nothing relaxed.
  std::vector<std::string> insecure_options;
  std::string insecure_list() const;  // as the flag spells it: "image,http"
};

struct Limits {
  // Per-app defaults applied when neither the app's flag nor its image sets that isolator, as
  // --memory, --cpu and --pids-limit spell them ("memory": "256M", "cpu": "500m", "pidsLimit": 100).
  std::optional<std::string> memory, cpu, pids_limit;
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
  Networks networks;
  Trust trust;
  Limits limits;
  std::string path;  // the last file read; empty = built-in defaults (no file)
  // "images.maxEntries" -> the file that set it (keys no file sets are absent: built-in default). Map
  // sections have one entry per key: "stage1.options.NAME", "stage1.images.FLAVOR".
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
