#include "net/http.hpp"

#include "net/curl_api.hpp"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <exception>
#include <memory>
#include <mutex>

#include "util/error.hpp"

namespace pod::net {

namespace {

// Reply heads larger than this (all header lines of all replies, redirects
// included) abort the transfer.
constexpr size_t kMaxHeadBytes = 1 << 20;

struct CurlDeleter {
  void operator()(CURL* h) const { curl().easy_cleanup(h); }
  void operator()(curl_slist* l) const { curl().slist_free_all(l); }
};
using CurlHandle = std::unique_ptr<CURL, CurlDeleter>;
using CurlList = std::unique_ptr<curl_slist, CurlDeleter>;

void global_init() {
  static std::once_flag once;
  static CURLcode rc = CURLE_OK;
  std::call_once(once, [] { rc = curl().global_init(CURL_GLOBAL_DEFAULT); });
  if (rc != CURLE_OK) throw Error(std::string("cannot initialise libcurl: ") + curl().easy_strerror(rc));
}

bool starts_with(const std::string& s, const char* prefix) { return s.rfind(prefix, 0) == 0; }

std::string trim(std::string s) {
  auto sp = [](unsigned char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
  while (!s.empty() && sp(static_cast<unsigned char>(s.back()))) s.pop_back();
  size_t i = 0;
  while (i < s.size() && sp(static_cast<unsigned char>(s[i]))) ++i;
  return s.substr(i);
}

// One transfer's state, shared with the curl callbacks (which must not throw:
// they record the exception and abort the transfer).
struct Transfer {
  Transfer(const Request& q, const Sink& s, Response& r, CURL* c) : req(q), sink(s), resp(r), h(c) {}
  const Request& req;
  const Sink& sink;
  Response& resp;
  CURL* h;
  bool decided = false;     // the final reply's status is known (first body byte)
  bool deliver = false;     // body bytes go to the sink
  bool stopped_ok = false;  // we stopped the transfer on purpose (not an error)
  size_t head_bytes = 0;
  std::exception_ptr error;

  void decide() {
    decided = true;
    curl().easy_getinfo(h, CURLINFO_RESPONSE_CODE, &resp.status);
    if (resp.status < 200 || resp.status > 299) return;
    if (req.resume_from > 0) {
      if (resp.status == 200) {
        resp.range_ignored = true;
        return;
      }
      const std::string want = "bytes " + std::to_string(req.resume_from) + "-";
      auto cr = resp.headers.find("content-range");
      if (resp.status == 206 && (cr == resp.headers.end() || !starts_with(cr->second, want.c_str())))
        throw Error("GET " + req.url + ": the partial reply's Content-Range \"" +
                        (cr == resp.headers.end() ? "" : cr->second) + "\" does not start at byte " +
                        std::to_string(req.resume_from),
                    0, ErrorKind::Invalid);
    }
    deliver = true;
  }

  // false: stop the transfer.
  bool body(const char* p, size_t n) {
    if (!decided) decide();
    if (deliver) {
      sink(p, n);
      return true;
    }
    if (resp.range_ignored) {
      stopped_ok = true;
      return false;
    }
    const size_t room = req.max_error_body - std::min(req.max_error_body, resp.body.size());
    resp.body.append(p, std::min(room, n));
    stopped_ok = n > room;  // enough of an error body
    return !stopped_ok;
  }

  void header(const char* p, size_t n) {
    head_bytes += n;
    if (head_bytes > kMaxHeadBytes)
      throw Error("GET " + req.url + ": the reply's headers are larger than 1 MiB", 0, ErrorKind::Invalid);
    std::string line(p, n);
    if (starts_with(line, "HTTP/")) {  // a new reply (after a redirect or a 100 Continue)
      resp.headers.clear();
      return;
    }
    auto colon = line.find(':');
    if (colon == std::string::npos || colon == 0) return;
    std::string name = line.substr(0, colon);
    std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
    std::string value = trim(line.substr(colon + 1));
    if (name == "content-length" && !valid_length(value))  // curl would ignore it and read to the end
      throw Error("GET " + req.url + ": malformed HTTP reply: invalid Content-Length \"" + value.substr(0, 64) + "\"",
                  0, ErrorKind::Invalid);
    resp.headers[name] = std::move(value);
  }

  static bool valid_length(const std::string& v) {  // decimal; 19 digits fit in curl's int64
    return !v.empty() && v.size() <= 19 && v.find_first_not_of("0123456789") == std::string::npos;
  }
};

template <class F>
bool guarded(Transfer* t, F&& f) {
  try {
    f();
    return true;
  } catch (...) {
    t->error = std::current_exception();
    return false;
  }
}

size_t on_body(char* p, size_t size, size_t n, void* ud) {
  auto* t = static_cast<Transfer*>(ud);
  bool go = false;
  if (!guarded(t, [&] { go = t->body(p, size * n); }) || !go) return 0;  // 0 aborts: CURLE_WRITE_ERROR
  return size * n;
}

size_t on_header(char* p, size_t size, size_t n, void* ud) {
  auto* t = static_cast<Transfer*>(ud);
  return guarded(t, [&] { t->header(p, size * n); }) ? size * n : 0;
}

int on_progress(void* ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t, curl_off_t) {
  auto* t = static_cast<Transfer*>(ud);
  if (!t->deliver || !t->req.progress || dlnow <= 0) return 0;
  const uint64_t base = t->req.resume_from;
  return guarded(t, [&] {
           t->req.progress(base + static_cast<uint64_t>(dlnow), dltotal > 0 ? base + static_cast<uint64_t>(dltotal) : 0);
         })
             ? 0
             : 1;
}

// Sets an option; a failure is a bug or a libcurl built without a feature.
template <class T>
void setopt(CURL* h, CURLoption o, T v, const char* what) {
  CURLcode rc = curl().easy_setopt(h, o, v);
  if (rc != CURLE_OK) throw Error(std::string("libcurl refused ") + what + ": " + curl().easy_strerror(rc));
}

std::string describe(CURLcode rc, const char* errbuf, const Request& req, const std::string& effective) {
  std::string what = errbuf[0] ? trim(errbuf) : curl().easy_strerror(rc);
  switch (rc) {
    case CURLE_PEER_FAILED_VERIFICATION:
      return "TLS certificate verification failed: " + what +
             " (trust the server's certificate through the system store or SSL_CERT_FILE, or use "
             "--insecure-options=tls)";
    case CURLE_SSL_CONNECT_ERROR:
      return "TLS handshake failed: " + what;
    case CURLE_UNSUPPORTED_PROTOCOL:
      if (!req.allow_http && starts_with(effective, "http://"))
        return what + " (a redirect to plain http " + effective + " is refused without --insecure-options=http)";
      return what;
    default:
      return what;
  }
}

}  // namespace

Response get(const Request& req, const Sink& sink) {
  if (starts_with(req.url, "http://")) {
    if (!req.allow_http)
      throw usage_error("GET " + req.url + ": plain http is not allowed; use --insecure-options=http to allow it");
  } else if (!starts_with(req.url, "https://")) {
    throw usage_error("GET " + req.url + ": not an http(s) URL");
  }
  global_init();
  CurlHandle h(curl().easy_init());
  if (!h) throw Error("GET " + req.url + ": cannot create a libcurl handle");
  CURL* c = h.get();
  Response resp;
  Transfer t(req, sink, resp, c);
  char errbuf[CURL_ERROR_SIZE] = "";
  const char* protocols = req.allow_http ? "http,https" : "https";

  CurlList headers;
  auto add = [&](const std::string& line) {
    curl_slist* l = curl().slist_append(headers.get(), line.c_str());
    if (!l) throw Error("GET " + req.url + ": out of memory for the request headers");
    (void)headers.release();
    headers.reset(l);
  };
  for (const auto& line : req.headers) add(line);
  if (req.resume_from > 0) add("Range: bytes=" + std::to_string(req.resume_from) + "-");

  setopt(c, CURLOPT_URL, req.url.c_str(), "the URL");
  setopt(c, CURLOPT_ERRORBUFFER, errbuf, "an error buffer");
  setopt(c, CURLOPT_NOSIGNAL, 1L, "NOSIGNAL");
  setopt(c, CURLOPT_USERAGENT, "pod", "a user agent");
  setopt(c, CURLOPT_PROTOCOLS_STR, protocols, "the protocols");
  setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, protocols, "the redirect protocols");
  setopt(c, CURLOPT_FOLLOWLOCATION, 1L, "redirects");
  setopt(c, CURLOPT_MAXREDIRS, 10L, "MAXREDIRS");
  setopt(c, CURLOPT_UNRESTRICTED_AUTH, 0L, "UNRESTRICTED_AUTH");  // no Authorization to other hosts
  setopt(c, CURLOPT_HTTP_VERSION, long(CURL_HTTP_VERSION_2TLS), "HTTP/2 over TLS");
  setopt(c, CURLOPT_CONNECTTIMEOUT, req.connect_timeout_s, "the connect timeout");
  setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L, "LOW_SPEED_LIMIT");
  setopt(c, CURLOPT_LOW_SPEED_TIME, req.low_speed_time_s, "LOW_SPEED_TIME");
  if (headers) setopt(c, CURLOPT_HTTPHEADER, headers.get(), "the request headers");
  if (const char* ca = std::getenv("SSL_CERT_FILE"); ca && *ca) setopt(c, CURLOPT_CAINFO, ca, "SSL_CERT_FILE");
  if (!req.verify_tls) {
    setopt(c, CURLOPT_SSL_VERIFYPEER, 0L, "SSL_VERIFYPEER");
    setopt(c, CURLOPT_SSL_VERIFYHOST, 0L, "SSL_VERIFYHOST");
  }
  setopt(c, CURLOPT_WRITEFUNCTION, on_body, "a write callback");
  setopt(c, CURLOPT_WRITEDATA, &t, "WRITEDATA");
  setopt(c, CURLOPT_HEADERFUNCTION, on_header, "a header callback");
  setopt(c, CURLOPT_HEADERDATA, &t, "HEADERDATA");
  if (req.progress) {
    setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress, "a progress callback");
    setopt(c, CURLOPT_XFERINFODATA, &t, "XFERINFODATA");
    setopt(c, CURLOPT_NOPROGRESS, 0L, "NOPROGRESS");
  }

  const CURLcode rc = curl().easy_perform(c);
  if (t.error) std::rethrow_exception(t.error);
  char* eff = nullptr;
  if (curl().easy_getinfo(c, CURLINFO_EFFECTIVE_URL, &eff) == CURLE_OK && eff) resp.effective_url = eff;
  if (rc != CURLE_OK && !(rc == CURLE_WRITE_ERROR && t.stopped_ok))
    throw Error("GET " + req.url + ": " + describe(rc, errbuf, req, resp.effective_url));
  if (!t.decided) t.decide();  // no body
  return resp;
}

std::string get_small(const Request& req, size_t max_bytes, Response* out) {
  std::string body;
  Response r = get(req, [&](const char* p, size_t n) {
    if (n > max_bytes - body.size())
      throw Error("GET " + req.url + ": the reply is larger than " + std::to_string(max_bytes) + " bytes", 0,
                  ErrorKind::Invalid);
    body.append(p, n);
  });
  const bool ok = r.status >= 200 && r.status <= 299 && !r.range_ignored;
  if (!ok) {
    if (!out) throw_status(req, r);
    body = r.body;
  }
  if (out) *out = std::move(r);
  return body;
}

void throw_status(const Request& req, const Response& r, const std::string& detail) {
  std::string msg = "GET " + req.url + ": HTTP " + std::to_string(r.status);
  if (!detail.empty()) msg += " " + detail;
  const ErrorKind kind = r.status == 404 || r.status == 410 ? ErrorKind::NotFound : ErrorKind::Failed;
  throw Error(msg, 0, kind);
}

}  // namespace pod::net
