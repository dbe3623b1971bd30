// pod::init::AppStream: how an app's output is cut into log lines and CRI
// records, whatever sizes the pipe hands it over in.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <regex>
#include <string>
#include <tuple>
#include <vector>

#include "../stage1/init/output.hpp"

using pod::UniqueFd;
using pod::init::AppLog;
using pod::init::AppStream;
using pod::init::CriLog;

namespace {

UniqueFd memfile() {
  UniqueFd fd(::memfd_create("appstream-test", MFD_CLOEXEC));
  REQUIRE(fd);
  return fd;
}

std::string contents(int fd) {
  std::string s;
  char buf[65536];
  ssize_t n;
  for (off_t off = 0; (n = ::pread(fd, buf, sizeof buf, off)) > 0; off += n) s.append(buf, static_cast<size_t>(n));
  return s;
}

using Record = std::tuple<std::string, std::string, size_t, char>;  // stream, tag, length, first byte

std::vector<Record> records(const std::string& cri) {
  static const std::regex re(R"(^\S+Z (stdout|stderr) ([FP]) (.*)$)");
  std::vector<Record> out;
  size_t start = 0;
  for (size_t nl; (nl = cri.find('\n', start)) != std::string::npos; start = nl + 1) {
    std::smatch m;
    const std::string line = cri.substr(start, nl - start);
    REQUIRE_MESSAGE(std::regex_match(line, m, re), line.substr(0, 80));
    const std::string content = m[3];
    out.emplace_back(m[1], m[2], content.size(), content.empty() ? '\0' : content[0]);
  }
  CHECK(start == cri.size());
  return out;
}

// `data` written to a stream's pipe in writes of `chunk` bytes, each pumped
// before the next: {CRI records, the plain log}.
std::pair<std::vector<Record>, std::string> feed(const std::string& data, size_t chunk) {
  int p[2];
  REQUIRE(::pipe2(p, O_CLOEXEC | O_NONBLOCK) == 0);
  UniqueFd rd(p[0]), wr(p[1]);
  UniqueFd log = memfile(), cri = memfile();
  const int log_fd = log.get(), cri_fd = cri.get();
  auto applog = std::make_shared<AppLog>(std::move(log), 0, pod::logindex::Writer{});
  AppStream s(std::move(rd), applog, nullptr, "", std::make_shared<CriLog>(std::move(cri)), "stdout");
  for (size_t off = 0; off < data.size(); off += chunk) {
    const size_t n = std::min(chunk, data.size() - off);
    REQUIRE(::write(wr.get(), data.data() + off, n) == static_cast<ssize_t>(n));
    s.pump();
  }
  wr.reset();
  s.drain();
  return {records(contents(cri_fd)), contents(log_fd)};
}

}  // namespace

TEST_CASE("a line longer than 16 KiB is cut into 16 KiB partial pieces however the pipe delivers it") {
  const std::string data = "one\n" + std::string(20000, 'x') + "\n" + std::string(16384, 'y') + "\n" + "tail";
  const std::vector<Record> want{{"stdout", "F", 3, 'o'},     {"stdout", "P", 16384, 'x'}, {"stdout", "F", 3616, 'x'},
                                 {"stdout", "F", 16384, 'y'}, {"stdout", "P", 4, 't'}};
  for (size_t chunk : {size_t{1} << 20, size_t{65536}, size_t{4096}, size_t{16384}, size_t{16385}, size_t{7}}) {
    CAPTURE(chunk);
    auto [recs, log] = feed(data, chunk);
    CHECK(recs == want);
    CHECK(log == data);  // the plain log has every byte, in order
  }
}

TEST_CASE("a run of bytes without any newline: 16 KiB pieces, the rest at the end") {
  auto [recs, log] = feed(std::string(40000, 'z'), 65536);
  CHECK(recs == std::vector<Record>{{"stdout", "P", 16384, 'z'}, {"stdout", "P", 16384, 'z'}, {"stdout", "P", 7232, 'z'}});
  CHECK(log.size() == 40000);
}
