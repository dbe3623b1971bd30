// Remote fetching: https:// URLs (OpenSSL, system trust store or
// $SSL_CERT_FILE) and appc name discovery (<meta name="ac-discovery">).
// The detached signature (<url>.asc, or discovery's {ext}=aci.asc) is
// downloaded beside the image and checked by import_file (Documentation/trust.md).
#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <regex>

#include "appc/image_manifest.hpp"
#include "appc/names.hpp"
#include "images/http.hpp"
#include "images/internal.hpp"
#include "images/store.hpp"
#include "trust/verify.hpp"
#include "util/digest.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"

namespace pod::images {

namespace {

constexpr size_t kMaxDiscoveryBody = 1 << 20;

struct Url {
  std::string host, port = "443", path = "/";
};

Url parse_https(const std::string& url) {
  if (url.rfind("https://", 0) != 0) throw usage_error("not an https URL: " + url);
  Url u;
  std::string rest = url.substr(8);
  auto slash = rest.find('/');
  std::string hostport = rest.substr(0, slash);
  if (slash != std::string::npos) u.path = rest.substr(slash);
  auto colon = hostport.rfind(':');
  if (colon != std::string::npos && hostport.find(']') == std::string::npos) {
    u.host = hostport.substr(0, colon);
    u.port = hostport.substr(colon + 1);
  } else {
    u.host = hostport;
  }
  if (u.host.empty()) throw usage_error("URL " + url + " has no host");
  return u;
}

std::string ssl_error() {
  unsigned long e = ERR_get_error();
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  return e ? buf : "TLS error";
}

struct SslDeleter {
  void operator()(SSL* s) const { SSL_free(s); }
  void operator()(SSL_CTX* c) const { SSL_CTX_free(c); }
};

class HttpsConn {
 public:
  explicit HttpsConn(const Url& u) {
    struct addrinfo hints {};
    hints.ai_socktype = SOCK_STREAM;
    struct addrinfo* res = nullptr;
    int r = ::getaddrinfo(u.host.c_str(), u.port.c_str(), &hints, &res);
    if (r != 0) throw Error("cannot resolve " + u.host + ": " + gai_strerror(r));
    for (auto* ai = res; ai && !sock_; ai = ai->ai_next) {
      UniqueFd s(::socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol));
      if (s && ::connect(s.get(), ai->ai_addr, ai->ai_addrlen) == 0) sock_ = std::move(s);
    }
    ::freeaddrinfo(res);
    if (!sock_) throw_sys("cannot connect to " + u.host + ":" + u.port);
    ctx_.reset(SSL_CTX_new(TLS_client_method()));
    if (!ctx_) throw Error("cannot create a TLS context: " + ssl_error());
    SSL_CTX_set_default_verify_paths(ctx_.get());
#ifdef SSL_OP_IGNORE_UNEXPECTED_EOF
    // Many servers close without close_notify; truncation is caught by Content-Length instead.
    SSL_CTX_set_options(ctx_.get(), SSL_OP_IGNORE_UNEXPECTED_EOF);
#endif
    SSL_CTX_set_verify(ctx_.get(), SSL_VERIFY_PEER, nullptr);
    ssl_.reset(SSL_new(ctx_.get()));
    SSL_set_fd(ssl_.get(), sock_.get());
    SSL_set_tlsext_host_name(ssl_.get(), u.host.c_str());
    X509_VERIFY_PARAM* param = SSL_get0_param(ssl_.get());
    unsigned char ip[16];
    if (::inet_pton(AF_INET, u.host.c_str(), ip) == 1 || ::inet_pton(AF_INET6, u.host.c_str(), ip) == 1)
      X509_VERIFY_PARAM_set1_ip_asc(param, u.host.c_str());
    else
      X509_VERIFY_PARAM_set1_host(param, u.host.c_str(), 0);
    if (SSL_connect(ssl_.get()) != 1) {
      long v = SSL_get_verify_result(ssl_.get());
      std::string why = v != X509_V_OK ? X509_verify_cert_error_string(v) : ssl_error();
      throw Error("TLS handshake with " + u.host + " failed: " + why +
                  " (trust its certificate via the system store or SSL_CERT_FILE)");
    }
  }
  void write(const std::string& s) {
    if (SSL_write(ssl_.get(), s.data(), static_cast<int>(s.size())) <= 0) throw Error("cannot send request: " + ssl_error());
  }
  // 0 at end of stream.
  size_t read(char* buf, size_t n) {
    int r = SSL_read(ssl_.get(), buf, static_cast<int>(n));
    if (r > 0) return static_cast<size_t>(r);
    int e = SSL_get_error(ssl_.get(), r);
    if (e == SSL_ERROR_ZERO_RETURN || e == SSL_ERROR_SYSCALL) return 0;
    throw Error("cannot read the response: " + ssl_error());
  }

 private:
  UniqueFd sock_;
  std::unique_ptr<SSL_CTX, SslDeleter> ctx_;
  std::unique_ptr<SSL, SslDeleter> ssl_;
};

struct Response {
  int status = 0;
  std::string location;
};

// GET url; the body goes to sink. Follows up to 5 redirects. Every error
// after connecting names the URL; a malformed reply is a pod::Error from
// images/http.cpp naming what was wrong with it.
Response https_get(const std::string& url_in, const std::function<void(const char*, size_t)>& sink) {
  std::string url = url_in;
  for (int hop = 0; hop < 6; ++hop) {
    Url u = parse_https(url);
    HttpsConn c(u);
    c.write("GET " + u.path + " HTTP/1.1\r\nHost: " + u.host + "\r\nUser-Agent: pod\r\nConnection: close\r\n\r\n");
    Response r;
    try {
      std::string head;
      char buf[65536];
      size_t n, end;
      while ((end = head.find("\r\n\r\n")) == std::string::npos) {
        if (head.size() > kMaxHttpHead) throw Error("malformed HTTP reply: the head is larger than 1 MiB");
        if ((n = c.read(buf, sizeof buf)) == 0)
          throw Error(head.empty() ? "the server closed the connection without replying"
                                   : "malformed HTTP reply: the connection closed before the end of the head");
        head.append(buf, n);
      }
      const HttpHead h = parse_http_head(std::string_view(head).substr(0, end));
      r.status = h.status;
      r.location = h.location;
      if (r.status >= 300 && r.status < 400 && !r.location.empty()) {
        url = r.location[0] == '/' ? "https://" + u.host + ":" + u.port + r.location : r.location;
        continue;
      }
      if (r.status != 200) return r;
      HttpBodyDecoder body(h, sink);
      body.feed(head.data() + end + 4, head.size() - end - 4);
      while (!body.done() && (n = c.read(buf, sizeof buf)) > 0) body.feed(buf, n);
      body.finish();
      return r;
    } catch (const Error& e) {
      throw e.with_context(url);
    }
  }
  throw Error("too many redirects fetching " + url_in);
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
    auto r = https_get(from, [&](const char* p, size_t n) {
      while (n > 0) {
        ssize_t w = ::write(fd, p, n);
        if (w < 0) {
          if (errno == EINTR) continue;
          throw_sys("cannot write the download");
        }
        p += w;
        n -= static_cast<size_t>(w);
      }
    });
    return r.status;
  };
  if (int st = download(url, "download"); st != 200)
    throw Error("fetching " + url + " failed: HTTP status " + std::to_string(st), 0, ErrorKind::NotFound);
  const std::string sig = sig_url.empty() ? url + ".asc" : sig_url;
  if (!o.insecure_image) {
    if (int st = download(sig, "download.asc"); st == 404 || st == 410)
      throw trust::not_signed_error(url, sig);
    else if (st != 200)
      throw Error("fetching the signature " + sig + " failed: HTTP status " + std::to_string(st), 0, ErrorKind::Image);
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
      auto r = https_get(url, [&](const char* p, size_t n) {
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
