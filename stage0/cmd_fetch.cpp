#include <iostream>

#include "config/config.hpp"
#include "appflags.hpp"
#include "context.hpp"
#include "images/index.hpp"
#include "pods/store.hpp"
#include "stage1abi/options.hpp"
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
  ImageLimitFlags limits;
};

void run_fetch(Context& ctx, const FetchFlags& f) {
  if (f.images.empty())
    throw usage_error("pod fetch needs an image: a path, file://, https://, docker://, oci:, oci-archive:, "
                      "docker-archive: or name[:version]");
  const config::Config cfg = config::load(ctx.data_dir());
  FetchOptions o = apply_image_limits(f.limits, parse_insecure_options(insecure_or_config(f.insecure, cfg, true), {}), cfg);
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

void add_image_limit_flags(CLI::App& c, ImageLimitFlags& f) {
  c.add_option("--max-image-size", f.max_size,
               "Refuse images larger than SIZE uncompressed (bytes, or k/M/G/T = 1000^n, Ki/Mi/Gi/Ti = 1024^n; "
               "default: images.maxUncompressedSize in the configuration, else no limit)");
  c.add_option("--max-image-entries", f.max_entries,
               "Refuse images with more than N archive entries (default: images.maxEntries in the configuration, "
               "else 2000000)");
}

FetchOptions apply_image_limits(const ImageLimitFlags& f, FetchOptions o, const config::Config& cfg) {
  o.max_uncompressed = cfg.images.max_uncompressed;
  o.max_entries = cfg.images.max_entries;
  o.registry_auth_file = cfg.auth.registry_file;
  if (!f.max_size.empty()) {
    auto v = stage1::parse_size(f.max_size);
    if (!v) throw usage_error("--max-image-size \"" + f.max_size + "\" is not a size (bytes, or with k, M, G, T, Ki, Mi, Gi, Ti)");
    o.max_uncompressed = *v;
  }
  if (!f.max_entries.empty()) {
    auto v = stage1::parse_integer(f.max_entries);
    if (!v || *v < 0) throw usage_error("--max-image-entries \"" + f.max_entries + "\" is not a non-negative integer");
    o.max_entries = static_cast<uint64_t>(*v);
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
  add_image_limit_flags(*c, f->limits);
  c->callback([&ctx, f] { run_fetch(ctx, *f); });
}

}  // namespace pod::cli
