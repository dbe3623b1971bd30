// State shared by the stage0 commands: global flags and the opened store.
#pragma once
#include <CLI/CLI.hpp>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "pods/gc.hpp"
#include "images/store.hpp"
#include "pods/store.hpp"

namespace pod::cli {

struct Context {
  std::string dir_flag;
  bool debug = false;
  int rc = 0;  // exit code chosen by the command that ran
  // Arguments that belong to the command's payload (IMAGE + app flags, or the
  // command to enter), split off before CLI11 parses (see main.cpp).
  std::vector<std::string> tail;

  // Opens the data dir on first use.
  const Store& store();
  // The stage1 teardown used by gc/rm (runs the pod's stage1 gc entrypoint).
  PodTeardown teardown();
  void debug_log(const std::string& msg) const;

 private:
  std::optional<Store> store_;
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
void register_pod_ops(CLI::App&, Context&);
void register_install_units(CLI::App&, Context&);

// --insecure-options=image,... -> fetch options.
images::ImageStore::FetchOptions parse_insecure_options(const std::string& list);

// Resolve a UUID argument or --uuid-file into a pod.
Pod pod_from_args(const Store& store, const std::string& uuid_arg, const std::string& uuid_file);

}  // namespace pod::cli
