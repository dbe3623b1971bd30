#include "images/http.hpp"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <vector>

#include "util/error.hpp"

namespace pod::images {

namespace {

// Longest chunk-size line (with extensions) and trailer section accepted.
constexpr size_t kMaxChunkLine = 4096;
constexpr size_t kMaxTrailer = 64 << 10;

[[noreturn]] void bad(const std::string& what) { throw invalid_error("malformed HTTP reply: " + what); }

// Untrusted text for a message: quoted, at most 64 bytes, non-printables as \xNN.
std::string quote(std::string_view s) {
  std::string out = "\"";
  for (size_t i = 0; i < s.size() && i < 64; ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
      out += static_cast<char>(c);
    } else {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    }
  }
  return out + (s.size() > 64 ? "\"..." : "\"");
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// RFC 9110 token characters (header names).
bool is_tchar(char c) {
  return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

uint64_t parse_content_length(std::string_view v) {
  if (v.empty() || !std::all_of(v.begin(), v.end(), is_digit)) bad("bad Content-Length " + quote(v));
  uint64_t n = 0;
  for (char c : v) {
    n = n * 10 + static_cast<uint64_t>(c - '0');
    if (n > kMaxHttpBody) bad("Content-Length " + quote(v) + " is too large (the limit is 1 TiB)");
  }
  return n;
}

void parse_status_line(std::string_view line, HttpHead& h) {
  // HTTP/1.x SP 3DIGIT [SP reason]
  const bool ok = line.size() >= 12 && line.substr(0, 7) == "HTTP/1." && is_digit(line[7]) && line[8] == ' ' &&
                  is_digit(line[9]) && is_digit(line[10]) && is_digit(line[11]) && (line.size() == 12 || line[12] == ' ');
  if (!ok) bad("bad status line " + quote(line));
  h.status = (line[9] - '0') * 100 + (line[10] - '0') * 10 + (line[11] - '0');
  if (h.status < 100) bad("bad status line " + quote(line));
}

}  // namespace

HttpHead parse_http_head(std::string_view head) {
  if (head.size() > kMaxHttpHead) bad("the head is larger than 1 MiB");
  HttpHead h;
  size_t eol = head.find("\r\n");
  parse_status_line(head.substr(0, eol), h);
  std::vector<std::string> te;
  while (eol != std::string_view::npos) {
    size_t start = eol + 2;
    eol = head.find("\r\n", start);
    std::string_view line = head.substr(start, eol == std::string_view::npos ? std::string_view::npos : eol - start);
    if (line.empty()) bad("empty header line");
    if (line[0] == ' ' || line[0] == '\t') bad("folded header line " + quote(line));
    size_t colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0 ||
        !std::all_of(line.begin(), line.begin() + static_cast<long>(colon), is_tchar))
      bad("bad header line " + quote(line));
    const std::string name = lower(line.substr(0, colon));
    const std::string_view value = trim(line.substr(colon + 1));
    if (name == "content-length") {
      uint64_t n = parse_content_length(value);
      if (h.content_length && *h.content_length != n) bad("conflicting Content-Length headers");
      h.content_length = n;
    } else if (name == "transfer-encoding") {
      for (size_t i = 0; i <= value.size();) {
        size_t j = std::min(value.find(',', i), value.size());
        te.push_back(lower(trim(value.substr(i, j - i))));
        i = j + 1;
      }
    } else if (name == "location") {
      h.location = std::string(value);
    }
  }
  if (!te.empty()) {
    if (te != std::vector<std::string>{"chunked"}) {
      std::string all;
      for (const auto& t : te) all += (all.empty() ? "" : ", ") + t;
      bad("unsupported Transfer-Encoding " + quote(all) + " (only chunked is understood)");
    }
    h.chunked = true;
    h.content_length.reset();  // RFC 9112 6.3: Transfer-Encoding overrides Content-Length
  }
  return h;
}

HttpBodyDecoder::HttpBodyDecoder(const HttpHead& head, Sink sink) : sink_(std::move(sink)) {
  if (head.chunked) {
    state_ = State::SizeLine;
  } else if (head.content_length) {
    left_ = *head.content_length;
    state_ = left_ == 0 ? State::Done : State::Raw;
    counted_ = true;
  } else {
    state_ = State::Raw;
  }
}

void HttpBodyDecoder::size_line(std::string_view line) {
  // chunk-size [BWS ; chunk-ext]
  std::string_view size = line.substr(0, line.find(';'));
  while (!size.empty() && (size.back() == ' ' || size.back() == '\t')) size.remove_suffix(1);
  if (size.empty()) bad("empty chunk size in line " + quote(line));
  uint64_t n = 0;
  for (char c : size) {
    int d = is_digit(c) ? c - '0' : (c >= 'a' && c <= 'f') ? c - 'a' + 10 : (c >= 'A' && c <= 'F') ? c - 'A' + 10 : -1;
    if (d < 0) bad("invalid chunk size " + quote(size));
    n = n * 16 + static_cast<uint64_t>(d);
    if (n > kMaxHttpBody) bad("chunk size " + quote(size) + " is too large (the limit is 1 TiB)");
  }
  if (total_ + n > kMaxHttpBody) bad("the chunked body is larger than 1 TiB");
  chunk_ = left_ = n;
  state_ = n == 0 ? State::Trailer : State::Data;
}

void HttpBodyDecoder::feed(const char* p, size_t n) {
  while (n > 0 && state_ != State::Done) {
    switch (state_) {
      case State::Raw: {
        size_t m = counted_ ? static_cast<size_t>(std::min<uint64_t>(left_, n)) : n;
        if (!counted_ && total_ + m > kMaxHttpBody) bad("the body is larger than 1 TiB");
        sink_(p, m);
        total_ += m;
        p += m;
        n -= m;
        if (counted_ && (left_ -= m) == 0) state_ = State::Done;
        break;
      }
      case State::Data: {
        size_t m = static_cast<size_t>(std::min<uint64_t>(left_, n));
        sink_(p, m);
        total_ += m;
        p += m;
        n -= m;
        if ((left_ -= m) == 0) state_ = State::DataCrlf;
        break;
      }
      case State::DataCrlf:
        if (*p != "\r\n"[line_.size()])
          bad("the chunk of " + std::to_string(chunk_) + " bytes is not followed by CRLF (got " +
              quote(std::string_view(p, std::min<size_t>(n, 16))) + ")");
        line_ += *p++;
        --n;
        if (line_.size() == 2) {
          line_.clear();
          state_ = State::SizeLine;
        }
        break;
      case State::SizeLine:
      case State::Trailer: {
        const char* nl = static_cast<const char*>(std::memchr(p, '\n', n));
        size_t m = nl ? static_cast<size_t>(nl - p) + 1 : n;
        line_.append(p, m);
        p += m;
        n -= m;
        if (state_ == State::SizeLine && line_.size() > kMaxChunkLine)
          bad("chunk size line " + quote(line_) + " is too long (no CRLF)");
        if (state_ == State::Trailer && (trailer_ += m) > kMaxTrailer) bad("the trailer is larger than 64 KiB");
        if (!nl) break;
        if (line_.size() < 2 || line_[line_.size() - 2] != '\r')
          bad((state_ == State::SizeLine ? "chunk size line " : "trailer line ") + quote(line_) +
              " ends in a bare LF, not CRLF");
        line_.resize(line_.size() - 2);
        if (state_ == State::SizeLine) size_line(line_);
        else if (line_.empty()) state_ = State::Done;  // the blank line after the last chunk (and trailers)
        line_.clear();
        break;
      }
      case State::Done:
        break;
    }
  }
}

void HttpBodyDecoder::finish() {
  switch (state_) {
    case State::Done: return;
    case State::Raw:
      if (!counted_) return;  // no Content-Length: the body is what came before the end of the stream
      bad("the body was cut short: " + std::to_string(total_) + " of " + std::to_string(total_ + left_) + " bytes");
    case State::Data:
      bad("the chunked body was cut short " + std::to_string(left_) + " bytes before the end of a chunk of " +
          std::to_string(chunk_) + " bytes");
    case State::DataCrlf:
      bad("the chunked body was cut short after a chunk of " + std::to_string(chunk_) + " bytes (no CRLF)");
    case State::SizeLine:
      bad("the chunked body was cut short before its last chunk (" + std::to_string(total_) + " bytes received)");
    case State::Trailer:
      bad("the chunked body was cut short after its last chunk (no blank line)");
  }
}

HttpReply parse_http_reply(std::string_view bytes) {
  size_t end = bytes.find("\r\n\r\n");
  if (end == std::string_view::npos) {
    if (bytes.size() > kMaxHttpHead) bad("the head is larger than 1 MiB");
    bad("the head does not end in a blank line (CRLF CRLF)");
  }
  HttpReply r;
  r.head = parse_http_head(bytes.substr(0, end));
  HttpBodyDecoder d(r.head, [&](const char* p, size_t n) { r.body.append(p, n); });
  bytes.remove_prefix(end + 4);
  d.feed(bytes.data(), bytes.size());
  d.finish();
  return r;
}

}  // namespace pod::images
