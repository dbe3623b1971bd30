// HTTP(S) GET over libcurl (easy interface), for image fetches and registries.
//
// - https:// by default; plain http:// only with Request::allow_http (else a
//   usage error naming --insecure-options=http). Redirects are followed (at
//   most 10); a redirect from https to plain http is refused unless allow_http.
// - TLS: the system CA store, or $SSL_CERT_FILE when set; no verification
//   only with verify_tls = false (--insecure-options=tls). HTTP/2 over TLS when
//   the server offers it.
// - Proxies: curl reads HTTPS_PROXY / https_proxy, HTTP_PROXY (http:// only,
//   lower-case http_proxy), ALL_PROXY and NO_PROXY from the environment itself.
// - An "Authorization:" header in Request::headers is sent to the first host
//   only: curl drops it when a redirect leads to another host, port or scheme.
// - Every failure is a pod::Error "GET <url>: <what went wrong>"; a server's
//   reply never makes these functions throw anything else.
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace pod::net {

struct Request {
  std::string url;
  std::vector<std::string> headers;  // "Name: value"
  bool allow_http = false;           // plain http:// only when true
  bool verify_tls = true;            // false = --insecure-options=tls
  uint64_t resume_from = 0;          // > 0: "Range: bytes=N-" (see Response::range_ignored)
  long connect_timeout_s = 30, low_speed_time_s = 60;  // abort when < 1 byte/s for low_speed_time_s
  size_t max_error_body = 64 << 10;  // non-2xx bodies are kept up to this size in Response::body
  std::function<void(uint64_t done, uint64_t total)> progress;  // optional; counts include resume_from
};

struct Response {
  long status = 0;
  std::map<std::string, std::string> headers;  // of the last reply: lower-case names, last value, trimmed
  std::string effective_url;                   // after redirects
  std::string body;                            // only for non-2xx (up to max_error_body)
  // A range request (resume_from > 0) got a 200: nothing was passed to the
  // sink; the caller restarts from 0 without resume_from.
  bool range_ignored = false;
};

using Sink = std::function<void(const char*, size_t)>;

// The body of a 2xx reply goes to sink; a throwing sink aborts the transfer
// and its exception propagates. A non-2xx reply is returned, not thrown.
Response get(const Request& req, const Sink& sink);

// The whole body of a 2xx reply; an error past max_bytes. A non-2xx reply is
// returned in *out when given (the result is then its error body), and
// thrown as "GET <url>: HTTP <status>" otherwise (ErrorKind::NotFound for 404).
std::string get_small(const Request& req, size_t max_bytes, Response* out = nullptr);

// "GET <url>: HTTP <status>[ <detail>]": the error for an unexpected
// status (ErrorKind::NotFound for 404 and 410).
[[noreturn]] void throw_status(const Request& req, const Response& r, const std::string& detail = "");

}  // namespace pod::net
