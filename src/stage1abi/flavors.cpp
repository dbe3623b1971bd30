#include "stage1abi/flavors.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>

#include "config.h"
#include "contract/jsonread.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"

namespace pod::stage1 {

namespace {

std::string exe_dir() {
  const std::string p = self_exe_path();
  return p.empty() ? p : p.substr(0, p.rfind('/'));
}

void merge_file(FlavorConfig& c, const std::string& path) {
  auto text = try_read_file_at(AT_FDCWD, path, 1 << 20);
  if (!text) return;
  c.files.push_back(path);
  nlohmann::json j = contract::parse_json(*text, path);
  contract::Field root(path, j);
  root.require_object();
  if (!root.key("defaultFlavor").missing()) c.default_flavor = root.key("defaultFlavor").str();
  contract::Field flavors = root.key("flavors");
  if (flavors.missing()) return;
  flavors.require_object();
  const std::string dir = path.substr(0, path.rfind('/'));
  for (const auto& [name, _] : flavors.value().items()) {
    std::string img = flavors.key(name.c_str()).str();
    if (img.empty()) flavors.key(name.c_str()).fail("must name an image file");
    c.images[name] = img[0] == '/' ? img : dir + "/" + img;
  }
}

}  // namespace

FlavorConfig load_flavor_config() {
  FlavorConfig c;
  // A build tree has build/stage1.json beside build/stage0/; an installed pod the libexec one.
  const std::string build_tree = exe_dir() + "/../stage1.json";
  if (::access(build_tree.c_str(), R_OK) == 0) merge_file(c, build_tree);
  else merge_file(c, std::string(POD_LIBEXECDIR) + "/stage1.json");
  const char* sys = std::getenv("POD_STAGE1_CONFIG");
  merge_file(c, sys && *sys ? sys : "/etc/pod/stage1.json");
  return c;
}

std::string flavor_image(const FlavorConfig& c, const std::string& flavor) {
  auto it = c.images.find(flavor);
  if (it != c.images.end()) return it->second;
  std::string known;
  for (const auto& [n, _] : c.images) known += (known.empty() ? "" : ", ") + n;
  std::string from;
  for (const auto& f : c.files) from += (from.empty() ? "" : ", ") + f;
  throw usage_error("unknown stage1 flavor \"" + flavor + "\" (" +
                    (known.empty() ? "no flavours are configured" : "known: " + known) +
                    (from.empty() ? "; no stage1.json found next to pod or in " POD_LIBEXECDIR : "; from " + from) + ")");
}

}  // namespace pod::stage1
