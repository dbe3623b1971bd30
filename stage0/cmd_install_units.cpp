// `pod install-units`: write the shipped systemd units (pod@.service,
// pod-gc.service, pod-gc.timer, pod-metadata-service.{socket,service}) and, with --cron, the cron.d file, with the
// path of this pod binary put in. The files themselves live in
// Documentation/examples/ and are embedded at build time.
#include <fcntl.h>
#include <unistd.h>

#include <iostream>

#include "context.hpp"
#include "embedded_units.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"

namespace pod::cli {

namespace {
constexpr const char* kShippedBinary = "/usr/local/bin/pod";

struct InstallUnitsOptions {
  std::string prefix;                    // prepended to both dirs (a root for packaging)
  std::string unit_dir = "/etc/systemd/system";
  std::string cron_dir = "/etc/cron.d";
  std::string binary;                    // default: this executable
  bool cron = false;
  bool no_units = false;
};

std::string this_binary() {
  std::string p = self_exe_path();
  if (p.empty()) throw_sys("cannot find the path of the pod binary; pass --binary");
  return p;
}

std::string replace_all(std::string s, const std::string& from, const std::string& to) {
  for (size_t i = s.find(from); i != std::string::npos; i = s.find(from, i + to.size())) s.replace(i, from.size(), to);
  return s;
}

void install(const std::string& dir, const std::string& name, const std::string& content) {
  // mkdirs_at wants a relative path: walk absolute ones from "/".
  UniqueFd root = open_dir(dir[0] == '/' ? "/" : ".");
  std::string rel = dir.substr(dir.find_first_not_of('/') == std::string::npos ? dir.size() : dir.find_first_not_of('/'));
  UniqueFd d = rel.empty() ? std::move(root) : mkdirs_at(root.get(), rel, 0755);
  write_file_atomic_at(d.get(), name, content, 0644);
  std::cout << dir << "/" << name << "\n";
}

void run_install_units(const InstallUnitsOptions& o) {
  std::string bin = o.binary.empty() ? this_binary() : o.binary;
  if (bin.empty() || bin[0] != '/') throw usage_error("--binary must be an absolute path");
  if (bin.find_first_of(" \t\n\"'\\%$") != std::string::npos)
    throw usage_error("the pod binary path \"" + bin + "\" needs quoting in unit files; install pod elsewhere");
  for (const auto& f : kEmbeddedFiles) {
    std::string name = f.name;
    std::string text = replace_all(f.content, kShippedBinary, bin);
    bool is_cron = name.size() > 5 && name.compare(name.size() - 5, 5, ".cron") == 0;
    if (is_cron) {
      // cron ignores /etc/cron.d names with dots: pod-gc.cron -> pod-gc.
      if (o.cron) install(o.prefix + o.cron_dir, name.substr(0, name.size() - 5), text);
    } else if (!o.no_units) {
      install(o.prefix + o.unit_dir, name, text);
    }
  }
  if (!o.no_units)
    std::cerr << "pod: now run: systemctl daemon-reload && systemctl enable --now pod-gc.timer\n";
}
}  // namespace

void register_install_units(CLI::App& app, Context&) {
  auto o = std::make_shared<InstallUnitsOptions>();
  auto* c = app.add_subcommand("install-units", "Install the systemd units (and cron file) for pods and gc");
  c->add_option("--prefix", o->prefix, "Prepend DIR to the unit and cron directories (a staging root)");
  c->add_option("--unit-dir", o->unit_dir, "Where to put the units")->capture_default_str();
  c->add_option("--cron-dir", o->cron_dir, "Where to put the cron file")->capture_default_str();
  c->add_option("--binary", o->binary, "Path of pod to put in the units (default: this binary)");
  c->add_flag("--cron", o->cron, "Also install /etc/cron.d/pod-gc (hourly pod gc)");
  c->add_flag("--no-units", o->no_units, "Install only the cron file (with --cron)");
  c->callback([o] { run_install_units(*o); });
}

}  // namespace pod::cli
