// HTTP/1.1 reply parsing for the https:// fetcher (fetch.cpp), kept apart
// from the sockets so that it can be unit-tested and fuzzed. The input is
// whatever a remote server sends: everything malformed is a pod::Error
// naming the problem, and no other exception leaves these functions (except
// what the caller's sink throws).
#pragma once
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace pod::images {

struct HttpHead {
  int status = 0;
  std::string location;                   // the Location header, trimmed; empty when absent
  bool chunked = false;                   // Transfer-Encoding: chunked
  std::optional<uint64_t> content_length; // absent: the body runs to the end of the stream
};

// Largest body (Content-Length or sum of chunks) accepted: 1 TiB.
inline constexpr uint64_t kMaxHttpBody = uint64_t(1) << 40;
// Longest reply head (status line + headers) accepted.
inline constexpr size_t kMaxHttpHead = 1 << 20;

// Parse a reply head: the status line and the header lines, without the
// blank line that ends them ("HTTP/1.1 200 OK\r\nName: value...").
HttpHead parse_http_head(std::string_view head);

// Decodes a body as it arrives (Content-Length, chunked, or to end of
// stream) and passes the payload to sink; nothing is buffered beyond one
// chunk-size or trailer line.
class HttpBodyDecoder {
 public:
  using Sink = std::function<void(const char*, size_t)>;
  HttpBodyDecoder(const HttpHead& head, Sink sink);
  // Bytes received after the head. Bytes after the end of the body are ignored.
  void feed(const char* p, size_t n);
  // The whole body was seen (the caller can stop reading).
  bool done() const { return state_ == State::Done; }
  // The stream ended: throws unless the body is complete.
  void finish();

 private:
  enum class State { SizeLine, Data, DataCrlf, Trailer, Raw, Done };
  void size_line(std::string_view line);
  Sink sink_;
  State state_;
  uint64_t left_ = 0;     // bytes left in this chunk or in the Content-Length
  uint64_t total_ = 0;    // payload bytes so far
  uint64_t chunk_ = 0;    // size of the current chunk (for messages)
  size_t trailer_ = 0;    // trailer bytes so far
  bool counted_ = false;  // Raw: the body has a Content-Length (left_)
  std::string line_;      // a partial chunk-size, CRLF or trailer line
};

// A whole reply in one buffer (head, blank line, body): for tests and fuzzing.
struct HttpReply {
  HttpHead head;
  std::string body;
};
HttpReply parse_http_reply(std::string_view bytes);

}  // namespace pod::images
