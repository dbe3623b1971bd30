// `pod image <verb>`: list, cat-manifest, rm, export, extract, render, gc, verify, build.
#include <iostream>
#include <nlohmann/json.hpp>

#include "context.hpp"
#include "images/index.hpp"
#include "table.hpp"
#include "exitcodes.hpp"
#include "util/error.hpp"

namespace pod::cli {

namespace {

std::string display_name(const ImageSummary& i) {
  auto v = i.labels.find("version");
  return v == i.labels.end() ? i.name : i.name + ":" + v->second;
}

std::string human_size(uint64_t n) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(n);
  int u = 0;
  while (v >= 1024 && u < 4) v /= 1024, ++u;
  char buf[32];
  std::snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.1f %s", v, units[u]);
  return buf;
}

struct ListFlags {
  bool full = false, no_legend = false;
  std::string format = "table";
};

void run_list(Context& ctx, const ListFlags& f) {
  const auto imgs = ctx.runtime(true).list_images();
  if (f.format != "table") {
    nlohmann::json arr = nlohmann::json::array();
    for (const auto& i : imgs)
      arr.push_back({{"id", i.id}, {"name", i.name}, {"labels", i.labels}, {"size", i.size},
                     {"importTime", format_rfc3339(i.imported)}, {"lastUsed", format_rfc3339(i.last_used)},
                     {"source", i.source}});
    std::cout << (f.format == "json" ? arr.dump() : arr.dump(2)) << "\n";
    return;
  }
  std::vector<std::vector<std::string>> rows;
  for (const auto& i : imgs)
    rows.push_back({f.full ? i.id : images::short_id(i.id), display_name(i),
                    f.full ? std::to_string(i.size) : human_size(i.size),
                    f.full ? format_time(i.imported) : format_ago(i.imported),
                    f.full ? format_time(i.last_used) : format_ago(i.last_used)});
  print_table(std::cout, {"ID", "NAME", "SIZE", "IMPORT TIME", "LAST USED"}, rows, !f.no_legend);
}

struct CatFlags {
  std::string image;
  bool show_setuid = false;
  bool pretty = true;
  std::string format;  // "" = --pretty-print/--no-pretty-print and setuid lines
};

void run_cat(Context& ctx, const CatFlags& f) {
  Runtime& rt = ctx.runtime(true);
  if (!f.format.empty()) {  // one JSON document, the setuid files in it
    nlohmann::json m = nlohmann::json::parse(rt.image_manifest(f.image, false));
    if (f.show_setuid) {
      nlohmann::json files = nlohmann::json::array();
      for (const auto& s : rt.image_setuid_files(f.image)) {
        char mode[16];
        std::snprintf(mode, sizeof mode, "%04o", s.mode & 07777);
        files.push_back({{"path", s.path}, {"mode", mode}, {"kind", (s.mode & 04000) ? "setuid" : "setgid"}});
      }
      m = {{"manifest", std::move(m)}, {"setuidFiles", std::move(files)}};
    }
    std::cout << m.dump(f.format == "json" ? -1 : 2) << "\n";
    return;
  }
  std::cout << rt.image_manifest(f.image, f.pretty);
  if (f.show_setuid)
    for (const auto& s : rt.image_setuid_files(f.image)) {
      char mode[16];
      std::snprintf(mode, sizeof mode, "%04o", s.mode & 07777);
      std::cout << ((s.mode & 04000) ? "setuid" : "setgid") << " " << mode << " " << s.path << "\n";
    }
}

struct RmFlags {
  std::vector<std::string> images;
};

void run_rm(Context& ctx, const RmFlags& f) {
  if (f.images.empty()) throw usage_error("pod image rm needs at least one image ID or name");
  Runtime& rt = ctx.runtime();
  for (const auto& ref : f.images) {
    try {
      auto [id, kept] = rt.remove_image(ref);
      std::cout << "removed image " << id << "\n";
      for (const auto& t : kept)
        std::cerr << "pod: tree " << t << " is still used by a pod; `pod image gc` removes it once the pod is gone\n";
    } catch (const Error& e) {
      std::cerr << "pod: " << e.what() << "\n";
      if (!ctx.rc) ctx.rc = exit_code_for(e);
    }
  }
}

struct TwoArgFlags {
  std::string image, target;
  bool rootfs_only = false, overwrite = false;
};

void run_export(Context& ctx, const TwoArgFlags& f) { ctx.runtime().export_image(f.image, f.target, f.overwrite); }

void run_extract(Context& ctx, const TwoArgFlags& f, bool render) {
  ctx.runtime().extract_image(f.image, f.target, render, f.rootfs_only, f.overwrite);
}

struct GcFlags {
  std::string grace = "24h";
};

void run_gc(Context& ctx, const GcFlags& f) {
  auto grace = parse_duration(f.grace, "--grace-period");
  const ImageGcReport r = ctx.runtime().gc_images(grace);
  for (const auto& t : r.temp_removed) std::cout << "removed stale " << t << "\n";
  for (const auto& t : r.trees_removed) std::cout << "removed tree " << t << "\n";
  for (const auto& i : r.images_removed) std::cout << "removed image " << i << "\n";
}

struct VerifyFlags {
  std::vector<std::string> images;
};

void run_verify(Context& ctx, const VerifyFlags& f) {
  const VerifyReport r = ctx.runtime().verify_images(f.images);
  for (const auto& ok : r.ok) std::cout << "ok " << ok << "\n";
  for (const auto& bad : r.bad) std::cout << "CORRUPT " << bad << "\n";
  if (!r.bad.empty()) {
    std::cerr << "pod: " << r.bad.size() << " corrupt item(s) moved to " << r.quarantine
              << "; fetch the images again\n";
    ctx.rc = kExitError;
  }
}

struct BuildFlags {
  std::string dir, out;
  std::string mtime;
  bool overwrite = false;
  bool full = false;
};

void run_build(const BuildFlags& f) {
  std::optional<int64_t> mtime;
  if (!f.mtime.empty()) {
    try {
      size_t used = 0;
      mtime = std::stoll(f.mtime, &used);
      if (used != f.mtime.size()) throw std::invalid_argument("trailing");
    } catch (const std::exception&) {
      throw usage_error("--mtime needs seconds since the epoch, got \"" + f.mtime + "\"");
    }
  }
  std::string id = Runtime::build_image(f.dir, f.out, mtime, f.overwrite);
  std::cout << (f.full ? id : images::short_id(id)) << "\n";
}

}  // namespace

void register_image(CLI::App& app, Context& ctx) {
  auto* img = app.add_subcommand("image", "Manage the image store");
  img->require_subcommand(1);

  auto lf = std::make_shared<ListFlags>();
  auto* c = img->add_subcommand("list", "List stored images");
  c->add_flag("--full", lf->full, "Full IDs, exact sizes and absolute times");
  c->add_flag("--no-legend", lf->no_legend, "Do not print the header line");
  c->add_option("--format", lf->format, "Output format")->check(CLI::IsMember({"table", "json", "json-pretty"}));
  c->callback([&ctx, lf] { run_list(ctx, *lf); });

  auto cf = std::make_shared<CatFlags>();
  c = img->add_subcommand("cat-manifest", "Print an image's manifest");
  c->add_option("image", cf->image, "Image ID (prefix) or name[:version]")->required();
  c->add_flag("--show-setuid", cf->show_setuid, "Also list setuid/setgid files (\"setuid 4755 /path\")");
  c->add_flag("--pretty-print,!--no-pretty-print", cf->pretty, "Indent the JSON");
  c->add_option("--format", cf->format,
                "json or json-pretty: one JSON document (with --show-setuid: {\"manifest\", \"setuidFiles\"})")
      ->check(CLI::IsMember({"json", "json-pretty"}));
  c->callback([&ctx, cf] { run_cat(ctx, *cf); });

  auto rf = std::make_shared<RmFlags>();
  c = img->add_subcommand("rm", "Remove images, their blobs and rendered trees no pod uses");
  c->add_option("image", rf->images, "Image IDs (prefix) or names");
  c->callback([&ctx, rf] { run_rm(ctx, *rf); });

  auto ef = std::make_shared<TwoArgFlags>();
  c = img->add_subcommand("export", "Write a stored image as an uncompressed ACI (same image ID)");
  c->add_option("image", ef->image, "Image ID (prefix) or name")->required();
  c->add_option("file", ef->target, "Output .aci file")->required();
  c->add_flag("--overwrite", ef->overwrite, "Replace an existing file");
  c->callback([&ctx, ef] { run_export(ctx, *ef); });

  for (bool render : {false, true}) {
    auto xf = std::make_shared<TwoArgFlags>();
    c = img->add_subcommand(render ? "render" : "extract",
                            render ? "Write an image's rendered tree (dependencies and pathWhitelist applied) to DIR"
                                   : "Extract an image (without dependencies) to DIR");
    c->add_option("image", xf->image, "Image ID (prefix) or name")->required();
    c->add_option("dir", xf->target, "Target directory (created; must be empty)")->required();
    c->add_flag("--rootfs-only", xf->rootfs_only, "Write only the root file system, not the manifest");
    c->add_flag("--overwrite", xf->overwrite, "Replace the contents of a non-empty DIR");
    c->callback([&ctx, xf, render] { run_extract(ctx, *xf, render); });
  }

  auto gf = std::make_shared<GcFlags>();
  c = img->add_subcommand("gc", "Remove rendered trees no pod uses and images unused for the grace period");
  c->add_option("--grace-period", gf->grace, "Keep images used within this long")->capture_default_str();
  c->callback([&ctx, gf] { run_gc(ctx, *gf); });

  auto vf = std::make_shared<VerifyFlags>();
  c = img->add_subcommand("verify", "Re-hash blobs and rendered trees; quarantine what does not match");
  c->add_option("image", vf->images, "Images to verify (default: all)");
  c->callback([&ctx, vf] { run_verify(ctx, *vf); });

  auto bf = std::make_shared<BuildFlags>();
  c = img->add_subcommand("build", "Make an ACI from DIR (manifest + rootfs/); deterministic");
  c->add_option("dir", bf->dir, "Directory holding manifest and rootfs/")->required();
  c->add_option("out", bf->out, "Output .aci file")->required();
  c->add_option("--mtime", bf->mtime, "Set every entry's mtime to this many seconds since the epoch");
  c->add_flag("--overwrite", bf->overwrite, "Replace an existing output file");
  c->add_flag("--full", bf->full, "Print the full image ID");
  c->callback([bf] { run_build(*bf); });
}

}  // namespace pod::cli
