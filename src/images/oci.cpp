#include "images/oci.hpp"

#include <algorithm>
#include <set>

#include "appc/image_manifest.hpp"
#include "appc/names.hpp"
#include "contract/jsonread.hpp"
#include "util/error.hpp"

namespace pod::images::oci {

using contract::Field;
using nlohmann::json;

namespace {

const std::set<std::string> kLayerTypes = {
    "application/vnd.oci.image.layer.v1.tar",
    "application/vnd.oci.image.layer.v1.tar+gzip",
    "application/vnd.oci.image.layer.v1.tar+zstd",
    "application/vnd.oci.image.layer.nondistributable.v1.tar",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
    "application/vnd.docker.image.rootfs.diff.tar.gzip",
    "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
};

std::map<std::string, std::string> string_map(const Field& f) {
  std::map<std::string, std::string> out;
  if (f.missing()) return out;
  f.require_object();
  for (const auto& [k, v] : f.value().items()) out[k] = f.key(k.c_str()).str();
  return out;
}

// An object whose keys are the values ("ExposedPorts": {"80/tcp": {}}).
std::vector<std::string> key_set(const Field& f) {
  std::vector<std::string> out;
  if (f.missing()) return out;
  f.require_object();
  for (const auto& [k, v] : f.value().items()) out.push_back(k);
  return out;
}

Descriptor descriptor(const Field& f) {
  f.require_object();
  Descriptor d;
  d.media_type = f.key("mediaType").str_or("");
  d.digest = f.key("digest").str();
  if (!valid_digest(d.digest))
    f.key("digest").fail("\"" + d.digest + "\" is not a sha256 digest (sha256:<64 lowercase hex>)");
  d.size = f.key("size").uint(uint64_t{1} << 50);
  d.annotations = string_map(f.key("annotations"));
  if (f.has("platform")) {
    Field p = f.key("platform");
    d.has_platform = true;
    d.platform.os = p.key("os").str();
    d.platform.arch = p.key("architecture").str();
    d.platform.variant = p.key("variant").str_or("");
  }
  return d;
}

json parse_doc(const std::string& text, const std::string& doc) {
  if (text.size() > kMaxDocument)
    throw invalid_error(doc + " is " + std::to_string(text.size()) + " bytes, over the " +
                        std::to_string(kMaxDocument) + "-byte limit");
  return contract::parse_json(text, doc, kMaxDocument);
}

// Docker's architecture names -> appc's (spec/types.md "arch").
std::string appc_arch(const std::string& arch, const std::string& variant) {
  if (arch == "amd64") return "amd64";
  if (arch == "386") return "i386";
  if (arch == "arm64") return "aarch64";
  if (arch == "arm") return variant == "v6" ? "armv6l" : "armv7l";
  if (arch == "ppc64le") return "ppc64le";
  if (arch == "s390x") return "s390x";
  return "";
}

// Anything to an AC name ([a-z0-9]+(-[a-z0-9]+)*), e.g. "/var/lib/data" -> "var-lib-data".
std::string to_ac_name(const std::string& s) {
  std::string out;
  for (char c : s) {
    char l = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if ((l >= 'a' && l <= 'z') || (l >= '0' && l <= '9')) out += l;
    else if (!out.empty() && out.back() != '-') out += '-';
  }
  while (!out.empty() && out.back() == '-') out.pop_back();
  return out.empty() ? "root" : out;
}

// A registry reference as an AC identifier: "127.0.0.1:5000/a/b" -> "127.0.0.1-5000/a/b".
std::string to_ac_identifier(const std::string& s) {
  std::string out;
  for (char c : s) {
    char l = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    const bool alnum = (l >= 'a' && l <= 'z') || (l >= '0' && l <= '9');
    if (alnum) out += l;
    else if (!out.empty() && std::string("-._~/").find(out.back()) == std::string::npos)
      out += std::string("-._~/").find(l) != std::string::npos ? l : '-';
  }
  while (!out.empty() && !std::isalnum(static_cast<unsigned char>(out.back()))) out.pop_back();
  return out;
}

json name_value(const std::string& n, const std::string& v) { return json{{"name", n}, {"value", v}}; }

}  // namespace

Platform parse_platform(const std::string& s) {
  Platform p;
  if (s.empty()) return p;
  std::vector<std::string> parts;
  size_t i = 0;
  while (i <= s.size()) {
    size_t j = s.find('/', i);
    if (j == std::string::npos) j = s.size();
    parts.push_back(s.substr(i, j - i));
    i = j + 1;
  }
  if (parts.size() < 2 || parts.size() > 3 ||
      std::any_of(parts.begin(), parts.end(), [](const std::string& x) { return x.empty(); }))
    throw usage_error("--platform \"" + s + "\" is not OS/ARCH[/VARIANT] (e.g. linux/arm64)");
  p.os = parts[0];
  p.arch = parts[1];
  if (parts.size() == 3) p.variant = parts[2];
  return p;
}

bool is_index_type(const std::string& t) { return t == kIndexOci || t == kIndexDocker; }
bool is_manifest_type(const std::string& t) { return t == kManifestOci || t == kManifestDocker; }

bool valid_digest(const std::string& d) {
  return d.size() == 7 + 64 && d.rfind("sha256:", 0) == 0 &&
         d.find_first_not_of("0123456789abcdef", 7) == std::string::npos;
}

std::string digest_key(const std::string& d) { return "sha256-" + d.substr(7); }

std::string document_media_type(const std::string& text, const std::string& doc) {
  json j = parse_doc(text, doc);
  Field f(doc, j);
  f.require_object();
  return f.key("mediaType").str_or("");
}

std::vector<Descriptor> parse_index(const std::string& text, const std::string& doc) {
  json j = parse_doc(text, doc);
  Field f(doc, j);
  f.require_object();
  if (f.key("schemaVersion").uint(100) != 2) f.key("schemaVersion").fail("must be 2");
  std::vector<Descriptor> out;
  Field ms = f.key("manifests");
  if (ms.missing()) ms.fail("is required");
  for (size_t i = 0, n = ms.size(); i < n; ++i) out.push_back(descriptor(ms.at(i)));
  return out;
}

Descriptor select_platform(const std::vector<Descriptor>& ms, const Platform& p, const std::string& doc) {
  std::string have;
  const Descriptor* best = nullptr;
  for (const auto& m : ms) {
    if (!m.has_platform) continue;
    have += (have.empty() ? "" : ", ") + m.platform.str();
    if (m.platform.os != p.os || m.platform.arch != p.arch) continue;
    if (!p.variant.empty() && m.platform.variant != p.variant) continue;
    if (!best) best = &m;
  }
  if (!best)
    throw Error(doc + " has no image for " + p.str() + (have.empty() ? "" : " (it has: " + have + ")") +
                "; choose one with --platform", ENOENT, ErrorKind::NotFound);
  return *best;
}

Manifest parse_manifest(const std::string& text, const std::string& doc) {
  json j = parse_doc(text, doc);
  Field f(doc, j);
  f.require_object();
  const uint64_t version = f.key("schemaVersion").uint(100);
  if (version == 1)
    throw invalid_error(doc + " is a Docker schema 1 manifest, which pod does not run; push the image again with "
                        "a current client (schema 2 or OCI)");
  if (version != 2) f.key("schemaVersion").fail("must be 2");
  const std::string mt = f.key("mediaType").str_or(kManifestOci);
  if (is_index_type(mt)) throw invalid_error(doc + " is an image index, not an image manifest");
  if (!is_manifest_type(mt)) f.key("mediaType").fail("\"" + mt + "\" is not an image manifest type");
  Manifest m;
  m.config = descriptor(f.key("config"));
  Field ls = f.key("layers");
  if (ls.missing()) ls.fail("is required");
  for (size_t i = 0, n = ls.size(); i < n; ++i) {
    m.layers.push_back(descriptor(ls.at(i)));
    check_layer_type(m.layers.back(), ls.at(i).path());
  }
  return m;
}

void check_layer_type(const Descriptor& d, const std::string& doc) {
  if (kLayerTypes.count(d.media_type)) return;
  if (d.media_type.find("encrypted") != std::string::npos)
    throw invalid_error(doc + ": layer " + d.digest + " is encrypted (" + d.media_type + "); pod cannot decrypt layers");
  throw invalid_error(doc + ": layer " + d.digest + " has media type \"" + d.media_type +
                      "\", which is not a tar layer pod can unpack (tar, tar+gzip, tar+zstd)");
}

Config parse_config(const std::string& text, const std::string& doc) {
  json j = parse_doc(text, doc);
  Field f(doc, j);
  f.require_object();
  Config c;
  c.os = f.key("os").str_or("linux");
  c.arch = f.key("architecture").str_or("");
  c.variant = f.key("variant").str_or("");
  Field cfg = f.key("config");
  if (!cfg.missing()) {
    cfg.require_object();
    c.entrypoint = cfg.key("Entrypoint").strings();
    c.cmd = cfg.key("Cmd").strings();
    c.env = cfg.key("Env").strings();
    c.user = cfg.key("User").str_or("");
    c.working_dir = cfg.key("WorkingDir").str_or("");
    c.labels = string_map(cfg.key("Labels"));
    c.volumes = key_set(cfg.key("Volumes"));
    c.exposed_ports = key_set(cfg.key("ExposedPorts"));
  }
  Field rootfs = f.key("rootfs");
  if (rootfs.missing()) rootfs.fail("is required");
  if (rootfs.key("type").str() != "layers") rootfs.key("type").fail("must be \"layers\"");
  c.diff_ids = rootfs.key("diff_ids").strings();
  for (size_t i = 0; i < c.diff_ids.size(); ++i)
    if (!valid_digest(c.diff_ids[i]))
      rootfs.key("diff_ids").at(i).fail("\"" + c.diff_ids[i] + "\" is not a sha256 digest");
  if (c.os != "linux") f.key("os").fail("\"" + c.os + "\": pod runs linux images only");
  return c;
}

std::pair<std::string, std::string> split_user(const std::string& user) {
  if (user.empty()) return {"0", ""};
  auto colon = user.find(':');
  if (colon == std::string::npos) return {user, ""};
  std::string u = user.substr(0, colon), g = user.substr(colon + 1);
  return {u.empty() ? "0" : u, g};
}

json appc_manifest(const Config& c, const Naming& n, const std::string& group) {
  const std::string name = to_ac_identifier(n.name);
  if (!appc::is_ac_identifier(name))
    throw Error("image name \"" + n.name + "\" cannot be expressed as an appc name");
  json labels = json::array();
  if (!n.tag.empty()) labels.push_back(name_value("version", n.tag));
  const std::string arch = appc_arch(c.arch, c.variant);
  if (!arch.empty() && appc::valid_os_arch("linux", arch)) {
    labels.push_back(name_value("os", "linux"));
    labels.push_back(name_value("arch", arch));
  }
  json m = {{"acKind", appc::kImageManifestKind}, {"acVersion", "0.8.11"}, {"name", name}, {"labels", labels}};

  json app = json::object();
  std::vector<std::string> exec = c.entrypoint;
  exec.insert(exec.end(), c.cmd.begin(), c.cmd.end());
  if (!exec.empty()) app["exec"] = exec;
  const auto [user, grp] = split_user(c.user);
  app["user"] = user;
  app["group"] = grp.empty() ? group : grp;
  if (!c.working_dir.empty()) {
    if (c.working_dir[0] != '/')
      throw Error("image config WorkingDir \"" + c.working_dir + "\" is not an absolute path");
    app["workingDirectory"] = c.working_dir;
  }
  json env = json::array();
  for (const auto& e : c.env) {
    auto eq = e.find('=');
    const std::string k = e.substr(0, eq);
    if (!appc::is_env_name(k)) throw Error("image config Env entry \"" + e + "\" is not NAME=VALUE");
    env.push_back(name_value(k, eq == std::string::npos ? "" : e.substr(eq + 1)));
  }
  app["environment"] = env;
  json ports = json::array();
  for (const auto& p : c.exposed_ports) {
    auto slash = p.find('/');
    const std::string num = p.substr(0, slash), proto = slash == std::string::npos ? "tcp" : p.substr(slash + 1);
    if (num.empty() || num.size() > 5 || num.find_first_not_of("0123456789") != std::string::npos ||
        std::stoul(num) == 0 || std::stoul(num) > 65535 || (proto != "tcp" && proto != "udp" && proto != "sctp"))
      throw Error("image config ExposedPorts entry \"" + p + "\" is not PORT[/tcp|udp|sctp]");
    ports.push_back({{"name", num + "-" + proto}, {"protocol", proto}, {"port", std::stoul(num)}, {"count", 1}});
  }
  if (!ports.empty()) app["ports"] = ports;
  json mps = json::array();
  std::set<std::string> used;
  for (const auto& v : c.volumes) {
    if (v.empty() || v[0] != '/') throw Error("image config Volumes entry \"" + v + "\" is not an absolute path");
    std::string mp = "volume-" + to_ac_name(v);
    for (int i = 2; used.count(mp); ++i) mp = "volume-" + to_ac_name(v) + "-" + std::to_string(i);
    used.insert(mp);
    mps.push_back({{"name", mp}, {"path", v}});
  }
  if (!mps.empty()) app["mountPoints"] = mps;
  m["app"] = app;

  json ann = json::array();
  ann.push_back(name_value(kEntrypointAnnotation, json(c.entrypoint).dump()));
  ann.push_back(name_value(kCmdAnnotation, json(c.cmd).dump()));
  static const std::set<std::string> kReserved = {"created", "homepage", "documentation", "authors"};
  for (const auto& [k, v] : c.labels)
    if (appc::is_ac_identifier(k) && !kReserved.count(k) && k.rfind("pod.io/", 0) != 0) ann.push_back(name_value(k, v));
  m["annotations"] = ann;
  appc::validate_image_manifest(m);
  return m;
}

}  // namespace pod::images::oci
