// The metadata service's endpoints (appc spec, "App Container Metadata
// Service"), answered from the pod's own files.
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <nlohmann/json.hpp>
#include <optional>
#include <vector>

#include "appc/image_manifest.hpp"
#include "contract/manifest.hpp"
#include "contract/poddir.hpp"
#include "mds/mds.hpp"
#include "pods/pod.hpp"
#include "pods/store.hpp"
#include "util/base64.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"
#include "util/uuid.hpp"

namespace pod::mds {

namespace {

constexpr const char* kJson = "application/json";

Reply text(int status, const std::string& body) { return {status, "text/plain; charset=us-ascii", body}; }
Reply json(const nlohmann::json& j) { return {200, kJson, j.dump()}; }

std::vector<std::string> split_path(const std::string& path) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < path.size()) {
    size_t j = path.find('/', i);
    if (j == std::string::npos) j = path.size();
    if (j > i) out.push_back(path.substr(i, j - i));
    i = j + 1;
  }
  return out;
}

nlohmann::json annotations_json(const std::vector<contract::NameValue>& a) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& nv : a) out.push_back({{"name", nv.name}, {"value", nv.value}});
  return out;
}

std::string hmac_sha512(const std::string& key, const std::string& content) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  if (!HMAC(EVP_sha512(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(content.data()),
            content.size(), mac, &n))
    throw Error("HMAC-SHA512 failed");
  return std::string(reinterpret_cast<char*>(mac), n);
}

bool same(const std::string& a, const std::string& b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

// A registered pod of the data dir: its dir fd and parsed manifest.
struct Registered {
  Pod pod;
  contract::PodManifest manifest;
};

std::optional<Registered> find_pod(const std::string& data_dir, const std::string& uuid) {
  if (!is_canonical_uuid(uuid)) return std::nullopt;
  Store store = Store::open(data_dir, true);
  auto p = Pod::try_open(store, uuid);
  if (!p) return std::nullopt;
  auto m = try_read_file_at(p->fd(), poddir::kManifest);
  if (!m) return std::nullopt;
  return Registered{std::move(*p), contract::parse_pod_manifest(*m)};
}

std::optional<std::string> pod_key(int pod_fd) { return try_read_file_at(pod_fd, kKeyFile, 4096); }

Reply app_endpoint(const Registered& r, const std::string& app, const std::vector<std::string>& rest) {
  const contract::RuntimeApp* ra = r.manifest.app(app);
  if (!ra) return text(404, "no app " + app + " in this pod\n");
  const std::string what = rest.size() == 1 ? rest[0] : rest.size() == 2 ? rest[0] + "/" + rest[1] : "";
  if (what == "image/id") return text(200, ra->image.id);
  auto image_manifest = try_read_file_at(r.pod.fd(), poddir::app_manifest(app));
  if (!image_manifest) return text(404, "the image manifest of app " + app + " is not in the pod\n");
  if (what == "image/manifest") return {200, kJson, *image_manifest};
  if (what == "annotations") {
    // The image's annotations, overridden by the pod manifest's for this app.
    std::vector<contract::NameValue> merged;
    const nlohmann::json im = appc::parse_image_manifest(*image_manifest);
    for (const auto& a : im.value("annotations", nlohmann::json::array()))
      merged.push_back({a.value("name", ""), a.value("value", "")});
    for (const auto& a : ra->annotations) {
      bool replaced = false;
      for (auto& m : merged)
        if (m.name == a.name) m.value = a.value, replaced = true;
      if (!replaced) merged.push_back(a);
    }
    return json(annotations_json(merged));
  }
  return text(404, "unknown endpoint\n");
}

Reply hmac_endpoint(const Registered& r, const std::string& op, const Request& q, const std::string& data_dir) {
  auto content = q.form.find("content");
  if (content == q.form.end()) return text(400, "form field \"content\" is missing\n");
  if (op == "sign") {
    auto key = pod_key(r.pod.fd());
    if (!key) return text(500, "this pod has no HMAC key\n");
    const std::string mac = hmac_sha512(*key, content->second);
    return text(200, base64(mac));
  }
  auto uuid = q.form.find("uuid");
  auto sig = q.form.find("signature");
  if (uuid == q.form.end() || sig == q.form.end()) return text(400, "form fields \"uuid\" and \"signature\" are needed\n");
  auto signer = find_pod(data_dir, uuid->second);
  std::optional<std::string> key = signer ? pod_key(signer->pod.fd()) : std::nullopt;
  auto given = unbase64(sig->second);
  if (!key || !given || !same(*given, hmac_sha512(*key, content->second))) return text(403, "signature is not valid\n");
  return text(200, "");
}

}  // namespace

Reply Service::handle(const Request& q) const {
  // /<pod uuid>/<token>/acMetadata/v1/...
  const std::vector<std::string> p = split_path(q.path);
  if (p.size() < 5 || p[2] != "acMetadata" || p[3] != "v1") return text(404, "not a metadata service URL\n");
  auto flavor = q.headers.find("metadata-flavor");
  if (flavor == q.headers.end() || flavor->second != "AppContainer")
    return text(400, "the request needs the header Metadata-Flavor: AppContainer\n");
  auto r = find_pod(data_dir_, p[0]);
  auto token = r ? try_read_file_at(r->pod.fd(), kTokenFile, 256) : std::nullopt;
  if (!token || !same(*token, p[1] + "\n")) return text(401, "unknown pod or token\n");
  const std::vector<std::string> rest(p.begin() + 4, p.end());
  const bool post = rest.size() == 3 && rest[0] == "pod" && rest[1] == "hmac" && (rest[2] == "sign" || rest[2] == "verify");
  if (post != (q.method == "POST") || (!post && q.method != "GET")) return text(405, "method not allowed\n");
  if (post) return hmac_endpoint(*r, rest[2], q, data_dir_);
  if (rest.size() == 2 && rest[0] == "pod") {
    if (rest[1] == "uuid") return text(200, p[0]);
    if (rest[1] == "annotations") return json(annotations_json(r->manifest.annotations));
    if (rest[1] == "manifest") return {200, kJson, read_file_at(r->pod.fd(), poddir::kManifest)};
  }
  if (rest.size() >= 3 && rest[0] == "apps") return app_endpoint(*r, rest[1], {rest.begin() + 2, rest.end()});
  return text(404, "unknown endpoint\n");
}

}  // namespace pod::mds
