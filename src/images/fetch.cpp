// Remote fetching: https:// URLs (src/net/http.hpp: libcurl, system trust
// store or $SSL_CERT_FILE) and appc name discovery (<meta name="ac-discovery">).
// The detached signature (<url>.asc, or discovery's {ext}=aci.asc) is
// downloaded beside the image and checked by import_file (Documentation/trust.md).
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <map>
#include <regex>

#include "appc/image_manifest.hpp"
#include "appc/names.hpp"
#include "images/blob.hpp"
#include "images/internal.hpp"
#include "images/store.hpp"
#include "net/http.hpp"
#include "trust/verify.hpp"
#include "util/digest.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"

namespace pod::images {

namespace {

constexpr size_t kMaxDiscoveryBody = 1 << 20;

net::Request request_for(const std::string& url, const FetchOptions& o) {
  net::Request r;
  r.url = url;
  r.allow_http = o.insecure_http;
  r.verify_tls = !o.insecure_tls;
  return r;
}

std::string substitute(std::string t, const std::map<std::string, std::string>& vars) {
  for (const auto& [k, v] : vars) {
    const std::string key = "{" + k + "}";
    for (size_t p; (p = t.find(key)) != std::string::npos;) t.replace(p, key.size(), v);
  }
  return t;
}

}  // namespace

std::string ImageStore::fetch_remote(const std::string& url, const FetchOptions& o, const std::string& expect_name,
                                     const std::string& sig_url) {
  const std::string key = sha512_hex("url:" + url).substr(0, 32);
  FileLock src_lock = FileLock::acquire(locks_.get(), "src-" + key, LockMode::Exclusive);
  if (auto cached = try_read_file_at(sources_.get(), key + ".json")) {
    try {
      const auto c = nlohmann::json::parse(*cached);
      std::string id = c.at("id").get<std::string>();
      if (exists_at(index_.get(), id + ".json") && exists_at(blobs_.get(), id) && source_record_serves(c, o)) return id;
    } catch (const nlohmann::json::exception&) {
    }
  }
  Staging stage(tmp_.get(), locks_.get());
  auto download = [&](const std::string& from, const char* file) {
    int fd = ::openat(stage.fd(), file, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) throw_sys("cannot create the download file");
    UniqueFd f(fd);
    const net::Request req = request_for(from, o);
    auto r = net::get(req, [&](const char* p, size_t n) { write_all(fd, p, n, "the download"); });
    return std::make_pair(req, r);
  };
  if (auto [req, r] = download(url, "download"); r.status != 200) net::throw_status(req, r);
  const std::string sig = sig_url.empty() ? url + ".asc" : sig_url;
  if (!o.insecure_image) {
    if (auto [req, r] = download(sig, "download.asc"); r.status == 404 || r.status == 410)
      throw trust::not_signed_error(url, sig);
    else if (r.status != 200)
      net::throw_status(req, r, "(the signature)");
  }
  std::string signer;
  std::string id = import_file(path_ + "/tmp/" + stage.name() + "/download", url, o, &signer);
  std::string name = appc::manifest_name(manifest(id));
  if (!expect_name.empty() && name != expect_name) {
    remove(id);
    throw Error("image discovered for " + expect_name + " at " + url + " is named " + name + "; refusing it");
  }
  write_file_atomic_at(sources_.get(), key + ".json", source_record(id, signer, {"url", url}).dump() + "\n");
  return id;
}

std::string ImageStore::fetch_by_name(const std::string& ref, const FetchOptions& o) {
  std::string name = ref, version;
  if (auto colon = ref.rfind(':'); colon != std::string::npos) {
    name = ref.substr(0, colon);
    version = ref.substr(colon + 1);
  }
  if (!appc::is_ac_identifier(name))
    throw usage_error("\"" + ref + "\" is neither an existing file nor an image name (name[:version])");
  try {
    return resolve(ref);  // already stored
  } catch (const Error& e) {
    if (e.kind() != ErrorKind::NotFound) throw;
  }
  const std::map<std::string, std::string> vars = {
      {"name", name}, {"version", version.empty() ? "latest" : version}, {"os", "linux"}, {"arch", "amd64"}, {"ext", "aci"}};
  const char* port_env = std::getenv("POD_DISCOVERY_PORT");  // test hook: discovery servers on a high port
  const std::string port = port_env && *port_env ? std::string(":") + port_env : "";
  static const std::regex meta(R"(<meta\s+name=["']ac-discovery["']\s+content=["']([^"'\s]+)\s+([^"'\s]+)["'])",
                               std::regex::icase);
  std::string prefix = name, errors;
  for (;;) {
    auto slash = prefix.find('/');
    std::string host = prefix.substr(0, slash);
    std::string path = slash == std::string::npos ? "" : prefix.substr(slash);
    std::string url = "https://" + host + port + path + "?ac-discovery=1";
    std::string body;
    try {
      const net::Request req = request_for(url, o);
    auto r = net::get(req, [&](const char* p, size_t n) {
        body.append(p, n);
        if (body.size() > kMaxDiscoveryBody) throw Error("the discovery page is larger than 1 MiB");
      });
      if (r.status != 200) errors += "; " + url + ": HTTP " + std::to_string(r.status);
    } catch (const Error& e) {
      errors += "; " + std::string(e.what());
    }
    for (std::sregex_iterator it(body.begin(), body.end(), meta), end; it != end; ++it) {
      std::string pfx = (*it)[1], tmpl = (*it)[2];
      if (name.rfind(pfx, 0) != 0) continue;
      std::string aci = substitute(tmpl, vars);
      if (aci.find('{') != std::string::npos || aci.rfind("https://", 0) != 0) continue;
      auto sig_vars = vars;
      sig_vars["ext"] = "aci.asc";
      return fetch_remote(aci, o, name, substitute(tmpl, sig_vars));
    }
    auto last = prefix.rfind('/');
    if (last == std::string::npos) break;
    prefix.resize(last);
  }
  throw Error("cannot discover image " + ref + ": no ac-discovery template matched" + errors, ENOENT, ErrorKind::NotFound);
}

}  // namespace pod::images
