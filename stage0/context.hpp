// State shared by the stage0 commands: global flags and the opened runtime
// (the public API, include/pod/pod.hpp).
#pragma once
#include <CLI/CLI.hpp>
#include <optional>
#include <pod/pod.hpp>
#include <string>
#include <vector>

namespace pod::config {
struct Config;
}

namespace pod::cli {

struct Context {
  std::string dir_flag;
  bool debug = false;
  int rc = 0;  // exit code chosen by the command that ran
  // Arguments that belong to the command's payload (IMAGE + app flags, or the
  // command to enter), split off before CLI11 parses (see main.cpp).
  std::vector<std::string> tail;

  // Opens the data dir on first use; `read_only` for the commands that only
  // read (list, status, logs, cat-manifest, image list/cat-manifest), so that
  // they work on a read-only data dir.
  Runtime& runtime(bool read_only = false);
  // --dir, else $POD_DIR, else paths.dataDir of the configuration, else the built-in default.
  std::string data_dir() const;
  void debug_log(const std::string& msg) const;

 private:
  std::optional<Runtime> rt_;
};

// Each command registers itself on the CLI11 app.
using Registrar = void (*)(CLI::App& app, Context& ctx);
void register_list(CLI::App&, Context&);
void register_status(CLI::App&, Context&);
void register_rm(CLI::App&, Context&);
void register_gc(CLI::App&, Context&);
void register_version(CLI::App&, Context&);
void register_fetch(CLI::App&, Context&);
void register_image(CLI::App&, Context&);
void register_run(CLI::App&, Context&);
void register_export(CLI::App&, Context&);
void register_pod_ops(CLI::App&, Context&);
void register_lifecycle(CLI::App&, Context&);  // kill, pause, resume, stats
void register_app(CLI::App&, Context&);        // app sandbox|add|start|stop|rm|list|status
void register_config(CLI::App&, Context&);
void register_fsck(CLI::App&, Context&);
void register_metadata_service(CLI::App&, Context&);
void register_cri(CLI::App&, Context&);  // execs pod-cri (the Kubernetes CRI server)
void register_docs(CLI::App&, Context&);  // completion scripts, man pages (from the registered commands)
void register_install_units(CLI::App&, Context&);
void register_trust(CLI::App&, Context&);

// --insecure-options=image,... -> fetch options.
// --insecure-options=LIST on top of o (pod fetch, run and prepare).
FetchOptions parse_insecure_options(const std::string& list, FetchOptions o);

// --max-image-size=SIZE and --max-image-entries=N (pod fetch, run and
// prepare), parsed after CLI11 is done; they override the configuration
// file's images.* (src/config/config.hpp).
struct ImageLimitFlags {
  std::string max_size, max_entries;
};
void add_image_limit_flags(CLI::App& c, ImageLimitFlags& f);
// The limits on top of o: the flags where given, else the configuration's (of data_dir's layers);
// and the configuration's auth.registryAuthFile.
FetchOptions apply_image_limits(const ImageLimitFlags& f, FetchOptions o, const config::Config& cfg);
// The configuration's pod defaults (Documentation/configuration.md) under what the flags set in `s`:
// stage1.defaultFlavor for a pod given no --stage1-* flag (nor $POD_STAGE1_PATH, $POD_STAGE1_FLAVOR),
// stage1.options under --stage1-opt, stage1.images, networks.default when no --net, networks.configDirs,
// limits.* as the apps' isolator defaults. Errors name the file and the key (an unknown flavour, a
// stage1.images file that does not exist).
void apply_pod_config(PodSpec& s, const config::Config& cfg);
// The --insecure-options list: the flag's when given, else trust.insecureOptions (with a warning on
// stderr naming the file, when it relaxes anything). `fetch_only` (pod fetch, app add): only its fetch
// values (image, http, tls); the pod values are for run and prepare.
std::string insecure_or_config(const std::string& flag, const config::Config& cfg, bool fetch_only = false);

// The UUID argument or --uuid-file's content (exactly one of them).
std::string uuid_from_args(const std::string& uuid_arg, const std::string& uuid_file);
// UUID arguments plus --uuid-file's, at least one.
std::vector<std::string> uuids_from_args(const std::vector<std::string>& uuids, const std::string& uuid_file,
                                         const char* verb);

}  // namespace pod::cli
