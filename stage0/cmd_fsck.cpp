// `pod fsck [--repair] [--format=text|json|json-pretty]`: check the image
// store, the pod store and what pods left on the host (Runtime::fsck,
// Documentation/fsck.md). Exit status: 0 clean, 5 findings left, 6 every
// finding repaired, 1 when fsck itself failed.
#include <iostream>
#include <nlohmann/json.hpp>

#include "context.hpp"
#include "exitcodes.hpp"

namespace pod::cli {

namespace {
struct FsckFlags {
  bool repair = false;
  std::string format = "text";
};

int exit_status(const std::vector<FsckFinding>& fs) {
  if (fs.empty()) return kExitOk;
  for (const auto& f : fs)
    if (!f.repaired) return kExitFsckFindings;
  return kExitFsckRepaired;
}

std::string outcome(const FsckFinding& f, bool repair) {
  if (!f.repairable) return "left alone: " + f.action;
  if (!repair) return "--repair will " + f.action;
  if (f.repaired) return "repaired: " + f.action;
  return "repair failed (" + f.repair_error + "): " + f.action;
}

void print_findings(const std::vector<FsckFinding>& fs, const FsckFlags& o, int rc) {
  if (o.format != "text") {
    nlohmann::json arr = nlohmann::json::array();
    for (const auto& f : fs) {
      nlohmann::json j = {{"area", f.area},         {"item", f.item},         {"problem", f.problem},
                          {"action", f.action},     {"repairable", f.repairable}, {"repaired", f.repaired}};
      if (!f.repair_error.empty()) j["repairError"] = f.repair_error;
      arr.push_back(std::move(j));
    }
    nlohmann::json j = {{"repair", o.repair}, {"findings", arr}, {"exitCode", rc}};
    std::cout << j.dump(o.format == "json" ? -1 : 2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
    return;
  }
  for (const auto& f : fs) std::cout << f.area << ": " << f.item << ": " << f.problem << "\n  " << outcome(f, o.repair) << "\n";
  size_t repaired = 0;
  for (const auto& f : fs) repaired += f.repaired;
  if (fs.empty()) std::cout << "clean\n";
  else if (o.repair) std::cout << fs.size() << " findings, " << repaired << " repaired, " << fs.size() - repaired << " left\n";
  else std::cout << fs.size() << " findings; run `pod fsck --repair` to fix the repairable ones\n";
}
}  // namespace

void register_fsck(CLI::App& app, Context& ctx) {
  auto o = std::make_shared<FsckFlags>();
  auto* c = app.add_subcommand("fsck", "Check the image and pod stores (and what pods left on the host); --repair fixes");
  c->add_flag("--repair", o->repair, "Fix what can be fixed without losing a live pod or a referenced image");
  c->add_option("--format", o->format, "Output format")->check(CLI::IsMember({"text", "json", "json-pretty"}));
  c->footer("Exit status: 0 clean, 5 findings left, 6 every finding repaired, 1 fsck failed.");
  c->callback([&ctx, o] {
    const auto findings = ctx.runtime(!o->repair).fsck(o->repair);
    ctx.rc = exit_status(findings);
    print_findings(findings, *o, ctx.rc);
  });
}

}  // namespace pod::cli
