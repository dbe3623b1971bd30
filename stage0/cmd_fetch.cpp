#include <iostream>

#include "context.hpp"
#include "images/index.hpp"
#include "util/error.hpp"

namespace pod::cli {

namespace {
struct FetchFlags {
  std::vector<std::string> images;
  std::string insecure;
  bool allow_devices = false;
  bool full = false;
  bool quiet = false;
};

void run_fetch(Context& ctx, const FetchFlags& f) {
  if (f.images.empty()) throw usage_error("pod fetch needs an image: a path, file://, https:// URL or name[:version]");
  FetchOptions o = parse_insecure_options(f.insecure);
  o.allow_devices = f.allow_devices;
  o.quiet = f.quiet;
  Runtime& rt = ctx.runtime();
  for (const auto& what : f.images) {
    std::string id = rt.fetch_image(what, o);
    std::cout << (f.full ? id : images::short_id(id)) << "\n";
  }
}
}  // namespace

FetchOptions parse_insecure_options(const std::string& list) {
  FetchOptions o;
  size_t i = 0;
  while (i < list.size()) {
    size_t j = list.find(',', i);
    if (j == std::string::npos) j = list.size();
    std::string v = list.substr(i, j - i);
    if (v == "image" || v == "all" || v == "all-fetch") o.insecure_image = true;
    else if (v != "none" && !v.empty())
      throw usage_error("unknown --insecure-options value \"" + v + "\" (known: none, image, all-fetch, all)");
    i = j + 1;
  }
  return o;
}

void register_fetch(CLI::App& app, Context& ctx) {
  auto f = std::make_shared<FetchFlags>();
  auto* c = app.add_subcommand("fetch", "Fetch images (ACI path, file://, https:// or name[:version]) into the store");
  c->add_option("image", f->images, "Images to fetch");
  c->add_option("--insecure-options", f->insecure,
                "Comma list: image (accept unsigned images; needed for https and names), all-fetch, all, none");
  c->add_flag("--allow-devices", f->allow_devices, "Accept device nodes in the image");
  c->add_flag("--full", f->full, "Print the full image ID");
  c->add_flag("-q,--quiet", f->quiet, "No progress output");
  c->callback([&ctx, f] { run_fetch(ctx, *f); });
}

}  // namespace pod::cli
