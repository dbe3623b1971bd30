// pod version [--format=text|json|json-pretty]: the version, the data dir and
// what this host and build support (Runtime::host_features).
#include <algorithm>
#include <iostream>
#include <nlohmann/json.hpp>

#include "context.hpp"
#include "pods/store.hpp"

namespace pod::cli {

void register_version(CLI::App& app, Context& ctx) {
  auto format = std::make_shared<std::string>("text");
  auto* c = app.add_subcommand("version", "Print the pod version and what this host supports");
  c->add_option("--format", *format, "Output format")->check(CLI::IsMember({"text", "json", "json-pretty"}));
  c->callback([&ctx, format] {
    const HostFeatures h = Runtime::host_features();
    const std::string dir = ctx.data_dir();
    if (*format != "text") {
      nlohmann::json j = {{"version", h.version},         {"dataDir", dir},
                          {"defaultFlavor", h.default_flavor}, {"flavors", h.flavors},
                          {"installedFlavors", h.installed_flavors},
                          {"cgroupMode", h.cgroup_mode},  {"kvmDevice", h.kvm_device},
                          {"overlay", h.overlay},         {"userNamespaces", h.user_namespaces}};
      if (!h.kvm_device) j["kvmDetail"] = h.kvm_detail;
      std::cout << j.dump(*format == "json" ? -1 : 2) << "\n";
      return;
    }
    std::cout << "pod version " << h.version << "\n";
    std::cout << "data dir: " << dir << "\n";
    std::cout << "stage1 flavors:";
    for (const auto& [name, _] : h.flavors) {
      const bool installed = std::find(h.installed_flavors.begin(), h.installed_flavors.end(), name) != h.installed_flavors.end();
      std::cout << " " << name << (name == h.default_flavor ? " (default)" : "") << (installed ? "" : " (image missing)");
    }
    std::cout << "\ncgroups: " << h.cgroup_mode << "\n";
    // Whether a guest really boots under KVM is the kvm flavour's probe (Documentation/stage1-kvm.md).
    std::cout << "kvm device: " << (h.kvm_device ? "yes" : "no (" + h.kvm_detail + ")") << "\n";
    std::cout << "overlayfs: " << (h.overlay ? "yes" : "no") << "\n";
    std::cout << "user namespaces: " << (h.user_namespaces ? "yes" : "no") << "\n";
  });
}

}  // namespace pod::cli
