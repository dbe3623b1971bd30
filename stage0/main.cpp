// `pod`: the stage0 command. Only dispatch lives here; each verb is in its
// own cmd_<verb>.cpp and calls into the library.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "config.h"
#include "context.hpp"
#include "exitcodes.hpp"
#include "rootless/userns.hpp"
#include "util/error.hpp"

namespace {
// `pod status --wait` alone means "wait forever"; a bound is only accepted
// attached (--wait=30s), so that `--wait UUID` never eats the UUID. CLI11 has
// no such option kind, so bare forms are rewritten before parsing.
std::vector<std::string> normalize_args(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  bool status = false;
  for (auto& a : args) {
    if (a == "--") break;
    if (a == "status") status = true;
    if (status && (a == "--wait" || a == "--wait-ready")) a += "=forever";
  }
  return args;
}

// `pod run|prepare [pod flags] IMAGE [app flags]…` and `pod enter [flags] UUID CMD…`
// end in arguments that are not the subcommand's own. CLI11 (2.3) cannot stop
// a subcommand at its first positional, so split argv here, using the
// subcommand's own option table to know which flags take a value: the head
// goes to CLI11, the tail to the command (Context::tail).
std::vector<std::string> split_tail(CLI::App& app, std::vector<std::string> args, pod::cli::Context& ctx) {
  static const std::map<std::string, size_t> keep_positionals = {{"run", 0}, {"prepare", 0}, {"enter", 1}};
  size_t i = 0;
  CLI::App* sub = nullptr;
  size_t kept = 0, keep = 0;
  for (; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (!sub) {
      if (a == "app" && i + 1 < args.size() && args[i + 1] == "add") {  // pod app add UUID IMAGE [app flags]…
        sub = app.get_subcommand("app")->get_subcommand("add");
        keep = 1;
        ++i;
        continue;
      }
      if (a == "--dir") ++i;
      else if (!a.empty() && a[0] != '-') {
        auto it = keep_positionals.find(a);
        if (it == keep_positionals.end()) return args;
        sub = app.get_subcommand(a);
        keep = it->second;
      }
      continue;
    }
    if (a == "--") break;
    if (a.size() > 1 && a[0] == '-') {
      if (a.find('=') != std::string::npos) continue;
      const CLI::Option* o = sub->get_option_no_throw(a);
      if (o && o->get_expected_min() > 0) ++i;  // its value is the next argument
      continue;
    }
    if (kept++ < keep) continue;
    break;
  }
  ctx.tail.assign(args.begin() + static_cast<long>(std::min(i, args.size())), args.end());
  args.resize(std::min(i, args.size()));
  return args;
}

// The deepest command that ran.
const CLI::App& deepest(const CLI::App& app) {
  const CLI::App* cur = &app;
  for (auto subs = cur->get_subcommands(); !subs.empty(); subs = cur->get_subcommands()) cur = subs.front();
  return *cur;
}

// --format of the deepest command that ran ("" when it has none or it was not given).
std::string chosen_format(const CLI::App& app) {
  const CLI::Option* o = deepest(app).get_option_no_throw("--format");
  return o && o->count() ? o->as<std::string>() : "";
}

// The item an error is about: what the library named, else the command's first argument (the pod,
// image, key or file the user named), else the payload's first word (run's IMAGE); "" when none.
std::string error_item(const CLI::App& app, const pod::Error& e, const pod::cli::Context& ctx) {
  if (!e.item().empty()) return e.item();
  for (const CLI::Option* o : deepest(app).get_options([](const CLI::Option* x) { return x->get_positional(); }))
    if (o->count() && !o->results().empty()) return o->results().front();
  for (const auto& a : ctx.tail)
    if (!a.empty() && a[0] != '-') return a;
  return "";
}

// An error as the user asked to see output: one JSON object on stderr with
// --format=json|json-pretty (Documentation/cli.md), else "pod: <message>".
void report(const CLI::App& app, const pod::Error& e, const pod::cli::Context& ctx) {
  const std::string fmt = chosen_format(app);
  if (fmt != "json" && fmt != "json-pretty") {
    std::cerr << "pod: " << e.what() << "\n";
    return;
  }
  nlohmann::json j = {{"category", pod::error_kind_name(e.kind())},
                      {"message", e.what()},
                      {"exitCode", pod::cli::exit_code_for(e)}};
  if (e.errnum()) j["errno"] = e.errnum();
  if (std::string item = error_item(app, e, ctx); !item.empty()) j["item"] = item;
  std::cerr << j.dump(fmt == "json" ? -1 : 2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
}

// The first argument that is neither a global option nor its value.
std::string first_word(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--dir") ++i;
    else if (a.empty() || a[0] != '-') return a;
  }
  return "";
}
}  // namespace

int main(int argc, char** argv) {
  pod::cli::Context ctx;
  CLI::App app{"pod: a daemonless pod runner (appc images, systemd-nspawn or KVM stage1)", "pod"};
  app.set_version_flag("--version", std::string("pod ") + POD_VERSION);
  app.add_option("--dir", ctx.dir_flag, "Data directory (default: $POD_DIR or " POD_DEFAULT_DATA_DIR "; not root: ~/.local/share/pod)")
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  app.add_flag("--debug", ctx.debug, "Print debug messages on stderr");
  app.require_subcommand(1);
  app.fallthrough();
  for (auto reg : {pod::cli::register_list, pod::cli::register_status, pod::cli::register_rm,
                   pod::cli::register_gc, pod::cli::register_version, pod::cli::register_fetch,
                   pod::cli::register_image, pod::cli::register_run, pod::cli::register_pod_ops, pod::cli::register_lifecycle, pod::cli::register_app,
                   pod::cli::register_install_units, pod::cli::register_trust,
                   pod::cli::register_config, pod::cli::register_fsck, pod::cli::register_metadata_service,
                   pod::cli::register_export, pod::cli::register_cri})
    reg(app, ctx);
  pod::cli::register_docs(app, ctx);  // last: it describes all the others
  app.add_subcommand("help", "Show help for pod or a command")
      ->allow_extras()
      ->callback([&] { std::cout << app.help(); });

  try {
    // Not root: everything but what acts on a running pod's processes (which must stay in the parent of
    // the pod's user namespace to reach them) runs in a user namespace (Documentation/rootless.md).
    if (const std::string cmd = first_word(argc, argv); cmd != "enter" && cmd != "stop" && cmd != "kill")
      pod::rootless::enter_user_namespace();
    auto args = normalize_args(argc, argv);
    args = split_tail(app, std::move(args), ctx);
    std::reverse(args.begin(), args.end());  // CLI11 consumes a reversed vector
    app.parse(args);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    if (std::string cmd = first_word(argc, argv); app.get_subcommands().empty() && !cmd.empty())
      std::cerr << "pod: unknown command \"" << cmd << "\"\n";
    else
      std::cerr << "pod: " << e.what() << "\n";
    if (app.get_subcommands().empty())
      std::cerr << app.help();
    else
      std::cerr << "Run 'pod --help' for usage.\n";
    return pod::cli::kExitUsage;
  } catch (const pod::Error& e) {
    report(app, e, ctx);
    return pod::cli::exit_code_for(e);
  } catch (const std::exception& e) {
    // Not a pod::Error: a library bug. Say so instead of std::terminate.
    std::cerr << "pod: internal error: " << e.what() << "\n";
    return pod::cli::kExitError;
  }
  return ctx.rc;
}
