#include "run/podmanifest.hpp"

#include "contract/jsonread.hpp"
#include "images/store.hpp"
#include "isolators/isolators.hpp"
#include "run/imageref.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"

namespace pod::run {

namespace {

using nlohmann::json;

constexpr size_t kMaxManifest = 1 << 20;

// The image a pod manifest app names: by id (in the store), else by name
// (+ its version label), fetched like an IMAGE argument.
std::string resolve_app_image(images::ImageStore& is, const json& image, const std::string& field,
                              const FetchOptions& fetch) {
  if (!image.is_object()) throw invalid_error(field + ": must be an object with an id or a name");
  const std::string id = image.contains("id") && image["id"].is_string() ? image["id"].get<std::string>() : "";
  const std::string name = image.contains("name") && image["name"].is_string() ? image["name"].get<std::string>() : "";
  try {
    if (!id.empty()) {
      if (id.rfind("sha512-", 0) != 0) throw invalid_error("\"" + id + "\" is not an image ID (sha512-…)");
      return is.resolve(id);
    }
    if (name.empty()) throw invalid_error("needs an id or a name");
    std::string ref = name;
    if (image.contains("labels") && image["labels"].is_array())
      for (const auto& l : image["labels"])
        if (l.is_object() && l.value("name", json()) == "version" && l.contains("value") && l["value"].is_string())
          ref += ":" + l["value"].get<std::string>();
    return resolve_image(is, ref, fetch);
  } catch (const Error& e) {
    throw e.with_context(field);
  }
}

void refuse_conflicting_flags(const PodSpec& spec) {
  auto refuse = [&](bool given, const std::string& what) {
    if (given) throw usage_error("--pod-manifest " + spec.pod_manifest + ": " + what);
  };
  refuse(!spec.apps.empty(), "give no IMAGE or app flags (the manifest lists the apps)");
  refuse(!spec.volumes.empty(), "--volume conflicts with it (the manifest's volumes are the pod's)");
  refuse(!spec.ports.empty(), "--port conflicts with it (the manifest's ports are the pod's)");
}

// Every mount point backed by a volume: by a mount at its path, else the pod volume of its name.
void reify_mounts(contract::RuntimeApp& a, const contract::PodManifest& m, const std::string& field) {
  for (const auto& mp : a.app.mount_points) {
    bool mounted = false;
    for (const auto& mt : a.mounts) mounted = mounted || mt.path == mp.path;
    if (mounted) continue;
    if (!m.volume(mp.name))
      throw invalid_error(field + ": mount point " + mp.name + " (" + mp.path + ") has no mount and the pod no volume \"" +
                          mp.name + "\"");
    a.mounts.push_back({mp.name, mp.path, mp.read_only});
  }
}

}  // namespace

GivenPod load_pod_manifest(PodSpec& spec, images::ImageStore& is) {
  refuse_conflicting_flags(spec);
  const std::string doc = "--pod-manifest " + spec.pod_manifest;
  json j = contract::parse_json(read_file(spec.pod_manifest, kMaxManifest), doc, kMaxManifest);
  if (!j.is_object()) throw invalid_error(doc + ": must be a JSON object (an appc PodManifest)");
  if (j.contains("isolators") && !(j["isolators"].is_array() && j["isolators"].empty()))
    throw invalid_error(doc + ": isolators: pod-level isolators are not supported; give them per app (apps[].app.isolators)");
  if (!j.contains("apps") || !j["apps"].is_array() || j["apps"].empty())
    throw invalid_error(doc + ": apps: must be a non-empty list");
  GivenPod g;
  for (size_t i = 0; i < j["apps"].size(); ++i) {
    json& a = j["apps"][i];
    const std::string field = doc + ": apps[" + std::to_string(i) + "]";
    if (!a.is_object()) throw invalid_error(field + ": must be an object");
    if (!a.contains("image")) throw invalid_error(field + ".image: is required");
    ResolvedApp r;
    r.image_id = resolve_app_image(is, a["image"], field + ".image", spec.fetch);
    r.image_manifest = is.manifest(r.image_id);
    a["image"]["id"] = r.image_id;
    if (!a["image"].contains("name")) a["image"]["name"] = r.image_manifest.value("name", "");
    if (!a.contains("app")) {
      if (!r.image_manifest.contains("app"))
        throw invalid_error(field + ".app: image " + r.image_manifest.value("name", r.image_id) +
                            " has no app section, so the pod manifest must give one");
      a["app"] = r.image_manifest["app"];
    }
    r.spec.image = r.image_id;
    if (a.contains("name") && a["name"].is_string()) r.spec.name = a["name"].get<std::string>();
    g.apps.push_back(std::move(r));
  }
  try {
    g.manifest = contract::pod_manifest_from_json(j);
  } catch (const Error& e) {
    throw e.with_context(doc);
  }
  // The manifest's isolators stand where an image's would: the defaults (limits.*) go under them.
  for (auto& a : g.manifest.apps) a.app.isolators = isolators::merge(a.app.isolators, {}, spec.isolator_defaults);
  for (size_t i = 0; i < g.manifest.apps.size(); ++i)
    reify_mounts(g.manifest.apps[i], g.manifest, doc + ": apps[" + std::to_string(i) + "] (" + g.manifest.apps[i].name + ")");
  if (spec.interactive && g.manifest.apps.size() != 1) throw usage_error("--interactive works with exactly one app");
  // Published like --port NAME:[HOSTIP:]HOSTPORT, which checks them against the apps' ports.
  for (size_t i = 0; i < g.manifest.ports.size(); ++i) {
    const auto& p = g.manifest.ports[i];
    bool known = false;
    for (const auto& a : g.manifest.apps)
      for (const auto& ap : a.app.ports) known = known || ap.name == p.name;
    if (!known)
      throw invalid_error(doc + ": ports[" + std::to_string(i) + "].name: no app of the pod has a port named \"" + p.name + "\"");
    spec.ports.push_back(p.name + ":" + (p.host_ip.empty() ? "" : p.host_ip + ":") + std::to_string(p.host_port));
  }
  g.manifest.ports.clear();
  try {
    contract::validate(g.manifest);
  } catch (const Error& e) {
    throw usage_error(doc + ": " + e.what());
  }
  return g;
}

}  // namespace pod::run
