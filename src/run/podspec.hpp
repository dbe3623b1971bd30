// From what the user asked for (pod::PodSpec, include/pod/spec.hpp) to the
// reified pod manifest and runtime.json of the contract (src/contract/), and
// the parsers of the flag syntaxes that fill a PodSpec.
#pragma once
#include <nlohmann/json.hpp>
#include <pod/spec.hpp>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "contract/manifest.hpp"
#include "contract/runtime.hpp"

namespace pod::run {

// "NAME,kind=host,source=/x,readOnly=true" | "NAME,kind=empty,mode=0700,uid=1,gid=1"
VolumeSpec parse_volume(const std::string& s);
// A volume as given through the API: a valid name, kind host or empty, a host source absolute and present;
// usage errors start with `what`.
void check_volume(const VolumeSpec& v, const std::string& what);
// The contract's volume of a checked VolumeSpec.
contract::Volume volume_of(const VolumeSpec& v);
// "volume=NAME,target=/path"
MountSpec parse_mount(const std::string& s);
// "NAME=VALUE"
std::pair<std::string, std::string> parse_env(const std::string& s, const char* flag);
// "IP=HOST"
std::pair<std::string, std::string> parse_hosts_entry(const std::string& s);

// An app name derived from an image name: last path part, lowercased, other chars -> '-'.
std::string default_app_name(const std::string& image_name);

struct ResolvedApp {
  AppSpec spec;
  std::string image_id;
  nlohmann::json image_manifest;
};

// One app of the reified pod manifest (`vol_names`: the pod's volumes); throws
// usage errors naming the offending flag.
// `isolator_defaults`: PodSpec::isolator_defaults (under the image's and the app's own).
contract::RuntimeApp build_app(const ResolvedApp& a, const std::set<std::string>& vol_names,
                               const IsolatorSpec& isolator_defaults = {});
// Build the reified pod manifest; throws usage errors naming the offending flag.
contract::PodManifest build_pod_manifest(const PodSpec& spec, const std::vector<ResolvedApp>& apps);
// The run-time options of the spec (notify apps and stage1 options are filled in by prepare).
contract::Runtime runtime_of(const PodSpec& spec);

}  // namespace pod::run
