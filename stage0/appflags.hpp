// Parsing `pod prepare|run [pod flags] IMAGE [app flags] [-- args] [--- IMAGE …]`.
#pragma once
#include <CLI/CLI.hpp>
#include <string>
#include <vector>

#include "run/podspec.hpp"

namespace pod::cli {

// Pod-level flags shared by prepare and run, bound to `spec`.
void add_pod_flags(CLI::App& cmd, run::PodSpec& spec, std::vector<std::string>& volumes,
                   std::vector<std::string>& hosts, std::string& insecure);
// Parse the per-app groups left over after the pod flags; errors are usage errors.
std::vector<run::AppSpec> parse_app_groups(const std::vector<std::string>& rest);
// Apply the string-valued pod flags collected by add_pod_flags.
void finish_pod_flags(run::PodSpec& spec, const std::vector<std::string>& volumes,
                      const std::vector<std::string>& hosts, const std::string& insecure);

}  // namespace pod::cli
