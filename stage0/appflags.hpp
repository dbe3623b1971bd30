// Parsing `pod prepare|run [pod flags] IMAGE [app flags] [-- args] [--- IMAGE …]`.
#pragma once
#include <CLI/CLI.hpp>
#include <string>
#include <vector>

#include "context.hpp"
#include "run/podspec.hpp"

namespace pod::cli {

// Pod flags whose strings are parsed after CLI11 is done.
struct PodFlagStrings {
  std::vector<std::string> volumes, hosts, stage1_opts, hooks;
  std::string hook_timeout = "30s";
  std::string insecure;
  ImageLimitFlags limits;
  bool mds_register = false;
  std::string mds_url;
};

// Pod-level flags shared by prepare and run, bound to `spec` and `strings`.
void add_pod_flags(CLI::App& cmd, PodSpec& spec, PodFlagStrings& strings);
// Parse the per-app groups left over after the pod flags; errors are usage errors.
std::vector<AppSpec> parse_app_groups(const std::vector<std::string>& rest);
// Move the isolation values of an --insecure-options list (isolators, seccomp,
// capabilities, paths; all/all-run imply them) to `isolation`; the rest is returned.
std::vector<std::string> split_isolation_insecure(const std::string& list, std::vector<std::string>& isolation);
// Apply the string-valued pod flags collected by add_pod_flags.
// data_dir: the data dir (the configuration has a layer in it).
void finish_pod_flags(PodSpec& spec, const PodFlagStrings& strings, const std::string& data_dir);

}  // namespace pod::cli
