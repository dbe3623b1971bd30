#include <iostream>

#include "context.hpp"
#include "images/index.hpp"
#include "util/error.hpp"

namespace pod::cli {

namespace {
struct FetchFlags {
  std::vector<std::string> images;
  std::string insecure;
  std::string platform;
  bool allow_devices = false;
  bool full = false;
  bool quiet = false;
};

void run_fetch(Context& ctx, const FetchFlags& f) {
  if (f.images.empty())
    throw usage_error("pod fetch needs an image: a path, file://, https://, docker://, oci:, oci-archive:, "
                      "docker-archive: or name[:version]");
  FetchOptions o = parse_insecure_options(f.insecure, {});
  o.platform = f.platform;
  o.allow_devices = f.allow_devices;
  o.quiet = f.quiet;
  Runtime& rt = ctx.runtime();
  for (const auto& what : f.images) {
    std::string id = rt.fetch_image(what, o);
    std::cout << (f.full ? id : images::short_id(id)) << "\n";
  }
}
}  // namespace

FetchOptions parse_insecure_options(const std::string& list, FetchOptions o) {
  size_t i = 0;
  while (i <= list.size() && !list.empty()) {
    size_t j = list.find(',', i);
    if (j == std::string::npos) j = list.size();
    const std::string v = list.substr(i, j - i);
    i = j + 1;
    const bool all = v == "all" || v == "all-fetch" || v == "all-run";
    if (v == "image" || all) o.insecure_image = true;
    if (v == "http" || all) o.insecure_http = true;
    if (v == "tls" || all) o.insecure_tls = true;
    if (!all && v != "image" && v != "http" && v != "tls" && v != "none" && !v.empty())
      throw usage_error("unknown --insecure-options value \"" + v + "\" (known: none, image, http, tls, all-fetch, all)");
  }
  return o;
}

void register_fetch(CLI::App& app, Context& ctx) {
  auto f = std::make_shared<FetchFlags>();
  auto* c = app.add_subcommand("fetch",
                               "Fetch images (ACI path, file://, https://, name[:version]; docker://, oci:, "
                               "oci-archive:, docker-archive:) into the store; an ACI needs a good signature (X.asc) "
                               "by a key of `pod trust` unless --insecure-options=image");
  c->add_option("image", f->images, "Images to fetch");
  c->add_option("--insecure-options", f->insecure,
                "Comma list: image (accept unsigned images), http (plain-http registries), tls (any certificate), "
                "all-fetch, all, none");
  c->add_option("--platform", f->platform, "OS/ARCH[/VARIANT] to pick from an image index (default linux/amd64)");
  c->add_flag("--allow-devices", f->allow_devices, "Accept device nodes in the image");
  c->add_flag("--full", f->full, "Print the full image ID");
  c->add_flag("-q,--quiet", f->quiet, "No progress output");
  c->callback([&ctx, f] { run_fetch(ctx, *f); });
}

}  // namespace pod::cli
