// The registry client (images/registry.hpp) over net::get: scheme choice,
// Bearer/Basic auth, manifests and blobs with their digests verified.
#include "images/registry.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <optional>

#include "contract/jsonread.hpp"
#include "images/registry_parse.hpp"
#include "net/http.hpp"
#include "util/digest.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"

namespace pod::images {

struct RegistryClient::Reply {
  net::Request req;
  net::Response resp;
  std::string body;  // of a 2xx reply for send_small; the error body otherwise
};

namespace {

constexpr size_t kMaxManifest = 4 << 20;
constexpr size_t kMaxSmallReply = 1 << 20;
constexpr int kBlobRetries = 3;

std::string url_escape(const std::string& s) {
  static const char* hexd = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hexd[c >> 4];
      out += hexd[c & 15];
    }
  }
  return out;
}

// What the registry's error reply says ({"errors": [{"code", "message"}]}),
// printable characters only and cut short; "" when it is not that.
std::string registry_errors(const std::string& body) {
  std::string out;
  try {
    const auto doc = contract::parse_json(body, "error reply");
    contract::Field f("error reply", doc);
    const contract::Field errors = f.key("errors");
    for (size_t i = 0; i < errors.size() && i < 4; ++i) {
      const contract::Field e = errors.at(i);
      std::string one = e.key("code").str_or("");
      const std::string msg = e.key("message").str_or("");
      if (!msg.empty()) one += (one.empty() ? "" : ": ") + msg;
      out += (out.empty() ? "" : "; ") + one;
    }
  } catch (const Error&) {
    return "";
  }
  for (char& c : out)
    if (static_cast<unsigned char>(c) < ' ' || c == 127) c = ' ';
  return out.size() > 300 ? out.substr(0, 300) + "..." : out;
}

std::string reason(long status) {
  switch (status) {
    case 401: return "unauthorized";
    case 403: return "forbidden";
    case 404: return "not found";
    case 429: return "too many requests";
    default: return "";
  }
}

// Throws for a non-2xx reply: "GET <url>: HTTP 401 unauthorized: UNAUTHORIZED: ..."
void check(const net::Request& req, const net::Response& r, const std::string& extra = "") {
  if (r.status >= 200 && r.status <= 299) return;
  std::string detail = reason(r.status);
  const std::string errs = registry_errors(r.body);
  if (!errs.empty()) detail += (detail.empty() ? "" : ": ") + errs;
  if (!extra.empty()) detail += (detail.empty() ? "" : " ") + extra;
  net::throw_status(req, r, detail);
}

}  // namespace

RegistryClient::RegistryClient(RegistryRef ref, RegistryOptions o) : ref_(std::move(ref)), o_(std::move(o)) {}

std::string RegistryClient::url(const std::string& path) const {
  return scheme_ + "://" + registry_api_host(ref_) + path;
}

void RegistryClient::connect() {
  if (!scheme_.empty()) return;
  const std::string host = registry_api_host(ref_);
  auto ping = [&](const std::string& scheme) {
    net::Request rq;
    rq.url = scheme + "://" + host + "/v2/";
    rq.allow_http = scheme == "http";
    rq.verify_tls = !o_.insecure_tls;
    rq.connect_timeout_s = 15;
    rq.low_speed_time_s = 30;
    net::Response r;
    net::get_small(rq, kMaxSmallReply, &r);
    return r;
  };
  net::Response r;
  try {
    r = ping("https");
    scheme_ = "https";
  } catch (const Error& e) {
    std::optional<net::Response> plain;  // does it speak plain http? (no credentials are sent)
    try {
      plain = ping("http");
    } catch (const Error&) {
    }
    // A registry answers /v2/ with 200 or 401; a TLS server's "plain http to an https port" reply is a 400.
    if (!plain || (plain->status != 200 && plain->status != 401)) throw;
    if (!o_.insecure_http)
      throw Error(std::string(e.what()) + "; " + host +
                      " answers only plain http; use --insecure-options=http to allow a plain-http registry",
                  e.errnum(), e.kind());
    scheme_ = "http";
    r = std::move(*plain);
  }
  if (r.status == 401) authenticate(r.headers["www-authenticate"], url("/v2/"));
}

void RegistryClient::authenticate(const std::string& header, const std::string& at) {
  if (header.empty())
    throw Error("GET " + at + ": HTTP 401 unauthorized, without a WWW-Authenticate challenge", 0, ErrorKind::Failed);
  std::vector<AuthChallenge> challenges;
  try {
    challenges = parse_www_authenticate(header);
  } catch (const Error& e) {
    throw e.with_context("GET " + at);
  }
  if (!basic_looked_up_ && !o_.credentials.empty()) {
    basic_ = o_.credentials;
    basic_file_ = "the credentials of the request";
    basic_looked_up_ = true;
  }
  if (!basic_looked_up_) {
    if (auto found = find_registry_auth(ref_.registry, o_.auth_file)) {
      basic_ = found->auth;
      basic_file_ = found->file;
    }
    basic_looked_up_ = true;
  }
  const std::string creds = creds_note();
  for (const AuthChallenge& c : challenges) {
    if (c.scheme != "bearer") continue;
    auto realm = c.params.find("realm");
    if (realm == c.params.end() || realm->second.empty())
      throw invalid_error("GET " + at + ": the Bearer challenge has no realm: " + header);
    auto service = c.params.find("service");
    net::Request rq;
    rq.url = realm->second + (realm->second.find('?') == std::string::npos ? "?" : "&");
    if (service != c.params.end()) rq.url += "service=" + url_escape(service->second) + "&";
    rq.url += "scope=" + url_escape("repository:" + ref_.repository + ":pull");
    rq.allow_http = o_.insecure_http;  // never credentials over plain http otherwise
    rq.verify_tls = !o_.insecure_tls;
    if (basic_) rq.headers.push_back("Authorization: Basic " + *basic_);
    net::Response r;
    const std::string body = net::get_small(rq, kMaxSmallReply, &r);
    check(rq, r, "(the token server refused; " + creds + ")");
    try {
      authorization_ = "Authorization: Bearer " + parse_token_reply(body, "the token reply");
    } catch (const Error& e) {
      throw e.with_context("GET " + rq.url);
    }
    return;
  }
  for (const AuthChallenge& c : challenges) {
    if (c.scheme != "basic") continue;
    if (!basic_)
      throw Error("GET " + at + ": HTTP 401 unauthorized: the registry asks for a user name and password, and there are " +
                  creds);
    authorization_ = "Authorization: Basic " + *basic_;
    return;
  }
  throw Error("GET " + at + ": HTTP 401 unauthorized with no Bearer or Basic challenge: " + header.substr(0, 200));
}

std::string RegistryClient::creds_note() const {
  if (!basic_looked_up_) return "credentials not looked up";
  return basic_ ? "credentials for " + ref_.registry + " from " + basic_file_
                : "no credentials for " + ref_.registry + " in an auth file";
}

RegistryClient::Reply RegistryClient::send(const std::string& path, const std::vector<std::string>& headers,
                                           const std::function<void(const char*, size_t)>& sink, uint64_t resume_from) {
  connect();
  for (int attempt = 0;; ++attempt) {
    Reply rep;
    rep.req.url = url(path);
    rep.req.allow_http = scheme_ == "http";
    rep.req.verify_tls = !o_.insecure_tls;
    rep.req.resume_from = resume_from;
    rep.req.headers = headers;
    if (!authorization_.empty()) rep.req.headers.push_back(authorization_);
    rep.resp = net::get(rep.req, sink);
    if (rep.resp.status == 401 && attempt == 0) {  // a token for this scope, or credentials now wanted
      authenticate(rep.resp.headers["www-authenticate"], rep.req.url);
      continue;
    }
    rep.body = rep.resp.body;
    return rep;
  }
}

RegistryClient::Reply RegistryClient::send_small(const std::string& path, const std::vector<std::string>& headers,
                                                 size_t max) {
  std::string body;
  Reply rep = send(path, headers, [&](const char* p, size_t n) {
    if (n > max - body.size())
      throw Error("GET " + url(path) + ": the reply is larger than " + std::to_string(max) + " bytes", 0,
                  ErrorKind::Invalid);
    body.append(p, n);
  });
  check(rep.req, rep.resp, rep.resp.status == 401 ? "(" + creds_note() + ")" : "");
  rep.body = std::move(body);
  return rep;
}

RegistryClient::Manifest RegistryClient::fetch_manifest(const std::string& reference, const std::string& expect) {
  static const std::string accept = std::string("Accept: ") + oci::kManifestOci + ", " + oci::kIndexOci + ", " +
                                    oci::kManifestDocker + ", " + oci::kIndexDocker;
  Reply rep = send_small("/v2/" + ref_.repository + "/manifests/" + reference, {accept}, kMaxManifest);
  Manifest m;
  m.digest = "sha256:" + sha256_hex(rep.body);
  m.body = std::move(rep.body);
  m.media_type = rep.resp.headers["content-type"];
  if (!expect.empty() && expect != m.digest)
    throw Error("GET " + rep.req.url + ": manifest digest mismatch: expected " + expect + ", got " + m.digest, 0,
                ErrorKind::Image);
  const std::string sent = rep.resp.headers["docker-content-digest"];
  if (sent.rfind("sha256:", 0) == 0 && sent != m.digest)
    throw Error("GET " + rep.req.url + ": the manifest's Docker-Content-Digest is " + sent.substr(0, 80) +
                    " but its content's digest is " + m.digest,
                0, ErrorKind::Image);
  return m;
}

namespace {
// The document's media type: the reply's Content-Type (parameters dropped) when it names a manifest or an
// index, else the document's own mediaType. Schema 1 and unknown types are refused by oci::parse_manifest.
std::string media_type_of(const RegistryClient::Manifest& m, const std::string& what) {
  std::string ct = m.media_type.substr(0, m.media_type.find(';'));
  while (!ct.empty() && ct.back() == ' ') ct.pop_back();
  if (oci::is_index_type(ct) || oci::is_manifest_type(ct)) return ct;
  return oci::document_media_type(m.body, what);
}
}  // namespace

RegistryClient::Manifest RegistryClient::image_manifest() {
  const std::string what = "the manifest of " + ref_.str();
  Manifest m = fetch_manifest(ref_.digest.empty() ? ref_.tag : ref_.digest, ref_.digest);
  m.media_type = media_type_of(m, what);
  if (oci::is_index_type(m.media_type)) {
    const std::string iwhat = "the image index of " + ref_.str();
    const oci::Descriptor d = oci::select_platform(oci::parse_index(m.body, iwhat), o_.platform, iwhat);
    m = fetch_manifest(d.digest, d.digest);
    const std::string mwhat = "the " + o_.platform.str() + " manifest of " + ref_.str();
    m.media_type = media_type_of(m, mwhat);
    if (oci::is_index_type(m.media_type))
      throw invalid_error(iwhat + " names another index (" + d.digest + ") for platform " + o_.platform.str());
  }
  oci::parse_manifest(m.body, what);  // refuses schema 1, unknown and malformed manifests
  return m;
}

std::string RegistryClient::blob_small(const std::string& digest, size_t max_bytes) {
  if (!oci::valid_digest(digest)) throw usage_error("invalid blob digest \"" + digest + "\"");
  Reply rep = send_small("/v2/" + ref_.repository + "/blobs/" + digest, {}, max_bytes);
  const std::string got = "sha256:" + sha256_hex(rep.body);
  if (got != digest)
    throw Error("GET " + rep.req.url + ": blob digest mismatch: expected " + digest + ", got " + got, 0,
                ErrorKind::Image);
  return std::move(rep.body);
}

void RegistryClient::blob_to_fd(const std::string& digest, int fd, uint64_t expected_size,
                                const std::function<void(uint64_t)>& progress) {
  if (!oci::valid_digest(digest)) throw usage_error("invalid blob digest \"" + digest + "\"");
  const std::string path = "/v2/" + ref_.repository + "/blobs/" + digest;
  const std::string what = "blob " + digest + " of " + ref_.str();
  struct stat st;
  if (::fstat(fd, &st) != 0) throw_sys("cannot stat the file for " + what);
  uint64_t offset = static_cast<uint64_t>(st.st_size);
  Sha256 h;
  auto restart = [&] {
    if (::ftruncate(fd, 0) != 0) throw_sys("cannot truncate the file for " + what);
    offset = 0;
    h = Sha256();
  };
  if (expected_size > 0 && offset > expected_size) restart();
  if (offset > 0) {  // the part already there
    if (::lseek(fd, 0, SEEK_SET) != 0) throw_sys("cannot seek in the file for " + what);
    hash_fd(h, fd, "the partial " + what);
  }
  bool sink_failed = false;
  auto sink = [&](const char* p, size_t n) {
    try {
      if (expected_size > 0 && n > expected_size - offset)
        throw Error(what + ": the registry sends more than its " + std::to_string(expected_size) + " bytes", 0,
                    ErrorKind::Image);
      write_all(fd, p, n, "the blob", static_cast<int64_t>(offset));
      h.update(p, n);
      if ((offset + n) >> 24 != offset >> 24)  // every 16 MiB: start writing back what came so far
        ::sync_file_range(fd, 0, static_cast<off_t>(offset + n), SYNC_FILE_RANGE_WRITE);
      offset += n;
      if (progress) progress(offset);
    } catch (...) {
      sink_failed = true;
      throw;
    }
  };
  for (int attempt = 0;;) {
    if (expected_size > 0 && offset == expected_size) break;  // nothing left to fetch
    std::optional<Reply> rep;
    try {
      rep = send(path, {}, sink, offset);
    } catch (const Error& e) {
      if (sink_failed || e.kind() == ErrorKind::Usage || attempt++ >= kBlobRetries) throw;
      continue;  // interrupted: resume from offset
    }
    if (rep->resp.range_ignored) {  // the registry ignored the Range: start over
      restart();
      continue;
    }
    if (rep->resp.status == 416 && offset > 0 && expected_size == 0) break;  // had it all
    check(rep->req, rep->resp);
    break;
  }
  if (expected_size > 0 && offset != expected_size)
    throw Error(what + ": got " + std::to_string(offset) + " bytes, expected " + std::to_string(expected_size), 0,
                ErrorKind::Image);
  const std::string got = "sha256:" + h.hex_digest();
  if (got != digest)
    throw Error(what + ": digest mismatch: expected " + digest + ", got " + got, 0, ErrorKind::Image);
}

}  // namespace pod::images
