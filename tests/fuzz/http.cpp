// HTTP reply parsing for the https:// fetcher (src/images/http.cpp). Input:
// what a server sends (head, blank line, body). The reply parsed in one
// buffer (parse_http_reply) and the same bytes fed to the streaming decoder
// one byte at a time, as a slow server would send them, must agree: both
// refuse it, or both give the same body. An accepted reply has a status in
// 100..999 and, with a Content-Length and no chunking, a body of that length.
// fuzz-options: -max_len=65536
#include "fuzz.hpp"
#include "images/http.hpp"
#include "util/error.hpp"

namespace img = pod::images;

namespace {

// The body, or nullopt when the decoder refuses the reply; fed byte by byte.
std::optional<std::string> bytewise(std::string_view s) {
  const size_t end = s.find("\r\n\r\n");
  if (end == std::string_view::npos) return std::nullopt;
  std::string body;
  try {
    const img::HttpHead head = img::parse_http_head(s.substr(0, end));
    img::HttpBodyDecoder d(head, [&](const char* p, size_t n) { body.append(p, n); });
    for (size_t i = end + 4; i < s.size() && !d.done(); ++i) d.feed(s.data() + i, 1);
    d.finish();
  } catch (const pod::Error&) {
    return std::nullopt;
  }
  return body;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string s = podfuzz::as_string(data, size);
  std::optional<img::HttpReply> whole;
  std::string why;
  try {
    whole = img::parse_http_reply(s);
  } catch (const pod::Error& e) {
    why = e.what();
  }
  const auto pieces = bytewise(s);
  FUZZ_CHECK(whole.has_value() == pieces.has_value(),
             whole ? "accepted whole, refused byte by byte" : "refused whole (" + why + "), accepted byte by byte");
  if (!whole) return 0;
  FUZZ_CHECK(whole->body == *pieces, "the body differs when fed byte by byte");
  const img::HttpHead& h = whole->head;
  FUZZ_CHECK(h.status >= 100 && h.status <= 999, "status " + std::to_string(h.status));
  if (h.content_length && !h.chunked)
    FUZZ_CHECK(whole->body.size() == *h.content_length, "a body of " + std::to_string(whole->body.size()) +
                                                            " bytes with Content-Length " + std::to_string(*h.content_length));
  return 0;
}
