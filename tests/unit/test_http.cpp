// The https fetcher's reply parser (src/images/http.cpp) against malformed replies.
#include <doctest/doctest.h>

#include <string>

#include "images/http.hpp"
#include "util/error.hpp"

using namespace pod;
using namespace pod::images;

namespace {

const std::string kChunkedHead = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";

// The message of the pod::Error parse_http_reply throws; fails the test on
// success or on any other exception.
std::string reply_error(const std::string& reply) {
  try {
    parse_http_reply(reply);
  } catch (const Error& e) {
    CHECK(e.kind() == ErrorKind::Invalid);
    return e.what();
  } catch (const std::exception& e) {
    FAIL("not a pod::Error: " << e.what());
  }
  FAIL("accepted: " << reply);
  return "";
}

bool has(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

}  // namespace

TEST_CASE("well-formed replies: Content-Length, chunked with extensions and trailers, to end of stream") {
  auto r = parse_http_reply("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-Other:  a:b \r\n\r\nhello");
  CHECK(r.head.status == 200);
  CHECK(r.body == "hello");
  r = parse_http_reply(kChunkedHead + "5;name=value\r\nhello\r\n6 \r\n world\r\n0\r\nX-Trailer: t\r\n\r\n");
  CHECK(r.head.chunked);
  CHECK(r.body == "hello world");
  r = parse_http_reply("HTTP/1.0 200 OK\r\n\r\nuntil the end");
  CHECK(r.body == "until the end");
  r = parse_http_reply("HTTP/1.1 302 Found\r\nlocation:   https://x/y  \r\nContent-Length: 0\r\n\r\n");
  CHECK(r.head.status == 302);
  CHECK(r.head.location == "https://x/y");
  // Transfer-Encoding wins over Content-Length; leading zeros in a chunk size are fine.
  r = parse_http_reply("HTTP/1.1 200 OK\r\nContent-Length: 99\r\nTransfer-Encoding: Chunked\r\n\r\n0003\r\nabc\r\n0\r\n\r\n");
  CHECK(r.body == "abc");
}

TEST_CASE("the body decoder takes a reply one byte at a time") {
  const std::string body = "4\r\nWiki\r\n5\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\n\r\n";
  std::string out;
  HttpHead h;
  h.chunked = true;
  HttpBodyDecoder d(h, [&](const char* p, size_t n) { out.append(p, n); });
  for (char c : body) {
    CHECK_FALSE(d.done());
    d.feed(&c, 1);
  }
  CHECK(d.done());
  d.finish();
  CHECK(out == "Wikipedia in\r\n\r\nchunks.");
}

TEST_CASE("malformed chunked bodies are pod::Errors that name the problem") {
  CHECK(has(reply_error(kChunkedHead + "zz\r\nhello\r\n0\r\n\r\n"), "invalid chunk size \"zz\""));
  CHECK(has(reply_error(kChunkedHead + "-5\r\nhello\r\n0\r\n\r\n"), "invalid chunk size \"-5\""));
  CHECK(has(reply_error(kChunkedHead + "0x5\r\nhello\r\n0\r\n\r\n"), "invalid chunk size \"0x5\""));
  CHECK(has(reply_error(kChunkedHead + " 5\r\nhello\r\n0\r\n\r\n"), "invalid chunk size \" 5\""));
  CHECK(has(reply_error(kChunkedHead + "\r\nhello\r\n0\r\n\r\n"), "empty chunk size"));
  // std::stoul would have thrown out_of_range here, or accepted a size no body has.
  CHECK(has(reply_error(kChunkedHead + "ffffffffffffffffffff\r\nx\r\n0\r\n\r\n"), "is too large"));
  CHECK(has(reply_error(kChunkedHead + "10000000001\r\nx\r\n0\r\n\r\n"), "is too large"));
  CHECK(has(reply_error(kChunkedHead + "5\r\nhelloXY0\r\n\r\n"), "chunk of 5 bytes is not followed by CRLF"));
  CHECK(has(reply_error(kChunkedHead + "5\nhello\r\n0\r\n\r\n"), "bare LF"));
  CHECK(has(reply_error(kChunkedHead + std::string(5000, '1')), "is too long"));
  CHECK(has(reply_error(kChunkedHead + "5\r\nhel"), "cut short 2 bytes before the end of a chunk of 5 bytes"));
  CHECK(has(reply_error(kChunkedHead + "5\r\nhello"), "after a chunk of 5 bytes"));
  CHECK(has(reply_error(kChunkedHead + "5\r\nhello\r\n"), "before its last chunk"));
  CHECK(has(reply_error(kChunkedHead + "0\r\n"), "after its last chunk"));
  CHECK(has(reply_error(kChunkedHead + "0\r\n" + std::string(70000, 'x')), "trailer is larger"));
}

TEST_CASE("malformed heads are pod::Errors that name the problem") {
  CHECK(has(reply_error("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n"), "does not end in a blank line"));
  CHECK(has(reply_error("ICY 200 OK\r\n\r\n"), "bad status line \"ICY 200 OK\""));
  CHECK(has(reply_error("HTTP/1.1 20 OK\r\n\r\n"), "bad status line"));
  CHECK(has(reply_error("HTTP/1.1 2000 OK\r\n\r\n"), "bad status line"));
  CHECK(has(reply_error("HTTP/1.1 abc\r\n\r\n"), "bad status line"));
  CHECK(has(reply_error("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello"), "cut short: 5 of 10 bytes"));
  CHECK(has(reply_error("HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n"), "bad Content-Length \"-1\""));
  CHECK(has(reply_error("HTTP/1.1 200 OK\r\nContent-Length: 12abc\r\n\r\n"), "bad Content-Length"));
  CHECK(has(reply_error("HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999999\r\n\r\n"), "is too large"));
  CHECK(has(reply_error("HTTP/1.1 200 OK\r\nContent-Length: 2000000000000\r\n\r\n"), "is too large"));
  CHECK(has(reply_error("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nx"), "conflicting"));
  CHECK(has(reply_error("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"), "unsupported Transfer-Encoding"));
  CHECK(has(reply_error("HTTP/1.1 200 OK\r\nno colon here\r\n\r\n"), "bad header line"));
  CHECK(has(reply_error("HTTP/1.1 200 OK\r\nA: b\r\n folded\r\n\r\n"), "folded header line"));
  CHECK(has(reply_error("HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n"), "bad header line"));
  CHECK(has(reply_error("HTTP/1.1 200 OK\r\n\x01\xff: x\r\n\r\n"), "bad header line \"\\x01\\xff: x\""));
  std::string msg = reply_error(std::string("\x00\x1b[31m", 6) + "\r\n\r\n");
  CHECK(has(msg, "\\x00\\x1b[31m"));  // untrusted bytes are escaped in messages
}

TEST_CASE("no input makes the parser throw anything but pod::Error") {
  // A cheap stand-in for a fuzzer: every prefix and every single-byte change of valid replies.
  const std::string replies[] = {
      kChunkedHead + "5;x=y\r\nhello\r\n0\r\nT: v\r\n\r\n",
      "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nLocation: /x\r\n\r\nabc",
  };
  const char subst[] = {'\0', '\r', '\n', ' ', ':', ';', 'f', 'g', '9', '-', '\xff'};
  size_t errors = 0, cases = 0;
  auto run = [&](const std::string& s) {
    ++cases;
    try {
      parse_http_reply(s);
    } catch (const Error&) {
      ++errors;
    } catch (...) {
      FAIL("a non-pod::Error exception for " << s);
    }
  };
  for (const auto& r : replies) {
    for (size_t i = 0; i <= r.size(); ++i) run(r.substr(0, i));
    for (size_t i = 0; i < r.size(); ++i)
      for (char c : subst) {
        std::string m = r;
        m[i] = c;
        run(m);
      }
  }
  CHECK(errors > 0);
  CHECK(errors < cases);
}
