#include <iostream>

#include "context.hpp"
#include "podjson.hpp"
#include "table.hpp"
#include "util/error.hpp"
#include "util/time.hpp"

namespace pod::cli {

namespace {
struct ListOptions {
  bool full = false;
  bool no_legend = false;
  std::string format = "table";
};

std::string when(const std::optional<TimePoint>& t, bool full) {
  if (!t) return "-";
  return full ? format_time(*t) : format_ago(*t);
}

// "default:172.16.28.5" per network joined (the addresses while it is joined), else the net value.
std::string networks_text(const PodStatus& p) {
  if (p.networks.empty()) return p.net.empty() ? "-" : p.net;
  std::string s;
  for (const auto& n : p.networks) {
    s += (s.empty() ? "" : ",") + n.name;
    if (n.state == "added")
      for (const auto& ip : n.ips) s += ":" + ip.substr(0, ip.find('/'));
  }
  return s;
}

std::string ports_text(const PodStatus& p) {
  std::string s;
  for (const auto& n : p.networks)
    for (const auto& port : n.ports) s += (s.empty() ? "" : ",") + port;
  return s.empty() ? "-" : s;
}

void run_list(Context& ctx, const ListOptions& o) {
  const std::vector<PodStatus> pods = ctx.runtime(true).list_pods(o.format == "table");
  if (o.format == "json" || o.format == "json-pretty") {
    nlohmann::json arr = nlohmann::json::array();
    for (const auto& p : pods) arr.push_back(status_json(p));
    std::cout << (o.format == "json" ? arr.dump() : arr.dump(2)) << "\n";
    return;
  }
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> errors;
  for (const auto& p : pods) {
    std::string uuid = o.full ? p.uuid : p.uuid.substr(0, 8);
    std::vector<std::string> pod_cols = {uuid, "", "", state_name(p), when(p.created, o.full),
                                         when(p.started, o.full), networks_text(p), ports_text(p)};
    if (!p.manifest_error.empty()) errors.push_back(p.uuid + ": " + p.manifest_error);
    if (p.apps.empty()) {
      pod_cols[1] = pod_cols[2] = "-";
      rows.push_back(pod_cols);
      continue;
    }
    for (size_t i = 0; i < p.apps.size(); ++i) {
      std::vector<std::string> r = i == 0 ? pod_cols : std::vector<std::string>(pod_cols.size(), "");
      r[1] = p.apps[i].name;
      r[2] = p.apps[i].image_name.empty() ? "-" : p.apps[i].image_name;
      rows.push_back(std::move(r));
    }
  }
  print_table(std::cout, {"UUID", "APP", "IMAGE NAME", "STATE", "CREATED", "STARTED", "NETWORKS", "PORTS"}, rows,
              !o.no_legend);
  for (const auto& e : errors) std::cerr << "pod: warning: " << e << "\n";
}
}  // namespace

void register_list(CLI::App& app, Context& ctx) {
  auto o = std::make_shared<ListOptions>();
  auto* c = app.add_subcommand("list", "List pods and their states");
  c->add_flag("--full", o->full, "Show full UUIDs and absolute times");
  c->add_flag("--no-legend", o->no_legend, "Do not print the header line");
  c->add_option("--format", o->format, "Output format")->check(CLI::IsMember({"table", "json", "json-pretty"}));
  c->callback([&ctx, o] { run_list(ctx, *o); });
}

}  // namespace pod::cli
