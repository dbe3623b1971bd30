// What the user asked for in `pod prepare/run`, and the reified appc pod
// manifest built from it plus the images' manifests.
#pragma once
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "stage1abi/stage1.hpp"

namespace pod::run {

struct VolumeSpec {
  std::string name;
  std::string kind;    // host | empty
  std::string source;  // host: absolute path on the host
  bool read_only = false;
  bool recursive = true;
  std::string mode = "0755";  // empty
  unsigned uid = 0, gid = 0;  // empty
};

struct MountSpec {
  std::string volume;
  std::string target;  // absolute path in the app
};

struct AppSpec {
  std::string image;  // as given on the command line
  std::string name;   // --name
  std::optional<std::string> exec;
  std::vector<std::string> args;
  bool args_given = false;
  std::vector<std::pair<std::string, std::string>> set_env;
  std::vector<std::string> env_files;
  bool inherit_env = false;
  std::optional<std::string> user, group, working_dir;
  std::vector<MountSpec> mounts;
  bool readonly_rootfs = false;
};

// Options that only matter when the pod runs; saved as runtime.json.
struct RuntimeOptions {
  std::string net = "host";
  std::string hostname;  // default pod-<uuid prefix>
  std::vector<std::string> dns;
  std::vector<std::pair<std::string, std::string>> hosts;  // ip, hostname
  bool interactive = false;
  bool attach = false;  // set by run: stdout is a terminal, show the apps' output there
  // none | started | app; "" = not given: prepare_pod picks app when an
  // image declares appc.io/executor/supports-systemd-notify, else started.
  std::string notify_ready;
  // The apps that get their own NOTIFY_SOCKET in "app" mode: those whose
  // image declares support ("" = every app, when app mode was asked for
  // without any image declaring it).
  std::vector<std::string> notify_apps;
  int cpus = 1;
  long long memory = 0;  // bytes; 0 = flavour default
  std::string hypervisor = "auto", accel = "auto";
  bool debug = false;
};

struct PodSpec {
  std::vector<AppSpec> apps;
  std::vector<VolumeSpec> volumes;
  RuntimeOptions runtime;
  stage1::Selection stage1;
  bool no_overlay = false;
  bool insecure_image = false;
  std::string uuid_file_save;
};

// "NAME,kind=host,source=/x,readOnly=true" | "NAME,kind=empty,mode=0700,uid=1,gid=1"
VolumeSpec parse_volume(const std::string& s);
// "volume=NAME,target=/path"
MountSpec parse_mount(const std::string& s);
// "NAME=VALUE"
std::pair<std::string, std::string> parse_env(const std::string& s, const char* flag);
// "IP=HOST"
std::pair<std::string, std::string> parse_hosts_entry(const std::string& s);

bool is_ac_name(const std::string& s);
// An app name derived from an image name: last path part, lowercased, other chars -> '-'.
std::string default_app_name(const std::string& image_name);

struct ResolvedApp {
  AppSpec spec;
  std::string image_id;
  nlohmann::json image_manifest;
};

// Build the reified pod manifest; throws usage errors naming the offending flag.
nlohmann::json build_pod_manifest(const PodSpec& spec, const std::vector<ResolvedApp>& apps);
nlohmann::json runtime_json(const RuntimeOptions& rt);

}  // namespace pod::run
