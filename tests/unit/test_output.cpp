// pod::OutputSink: copying to a stdout/stderr nobody may read never blocks.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <string>

#include "helpers.hpp"
#include "util/fd.hpp"
#include "util/fs.hpp"
#include "util/output.hpp"

using pod::OutputSink;
using pod::UniqueFd;

namespace {

struct Pipe {
  UniqueFd rd, wr;
  Pipe() {
    int p[2];
    REQUIRE(::pipe2(p, O_CLOEXEC) == 0);
    rd.reset(p[0]);
    wr.reset(p[1]);
    REQUIRE(::fcntl(p[0], F_SETFL, O_NONBLOCK) == 0);
  }
  std::string read_all() {
    std::string s;
    char buf[65536];
    ssize_t n;
    while ((n = ::read(rd.get(), buf, sizeof buf)) > 0) s.append(buf, static_cast<size_t>(n));
    return s;
  }
};

// SIGPIPE ignored for the scope, as OutputSink's users do.
struct IgnoreSigpipe {
  struct sigaction old {};
  IgnoreSigpipe() {
    struct sigaction ign {};
    ign.sa_handler = SIG_IGN;
    ::sigaction(SIGPIPE, &ign, &old);
  }
  ~IgnoreSigpipe() { ::sigaction(SIGPIPE, &old, nullptr); }
};

}  // namespace

TEST_CASE("a pipe nobody reads: writes return at once, the backlog is bounded, whole writes are dropped") {
  Pipe p;
  const std::string line(1000, 'x');
  OutputSink sink(p.wr.get(), 10 * 1000);
  CHECK(sink.fd() != p.wr.get());  // a description of its own...
  CHECK((::fcntl(p.wr.get(), F_GETFL) & O_NONBLOCK) == 0);  // ...so the shared one stays blocking
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < 200; ++i) sink.write(line + "\n");  // 200 KB into a 64 KiB pipe
  CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(2));
  CHECK(sink.backlogged());
  CHECK(sink.dropped() > 0);
  CHECK(sink.dropped() % 1001 == 0);  // never a part of a write
  // The reader comes back: the backlog follows, then new data.
  std::string got = p.read_all();
  sink.flush();
  got += p.read_all();
  CHECK_FALSE(sink.backlogged());
  sink.write("last\n");
  got += p.read_all();
  CHECK(got.size() + sink.dropped() == 200 * 1001 + 5);
  CHECK(got.substr(got.size() - 5) == "last\n");
  for (size_t i = 0; i + 5 < got.size(); i += 1001) CHECK(got.substr(i, 1001) == line + "\n");
}

TEST_CASE("finish() gives up on a reader that takes nothing; a reader that went away ends the copy") {
  IgnoreSigpipe ign;
  Pipe p;
  OutputSink sink(p.wr.get());
  sink.write(std::string(100 * 1024, 'y'));
  REQUIRE(sink.backlogged());
  const auto t0 = std::chrono::steady_clock::now();
  sink.finish(100);
  const auto took = std::chrono::steady_clock::now() - t0;
  CHECK(took >= std::chrono::milliseconds(100));
  CHECK(took < std::chrono::seconds(2));
  CHECK_FALSE(sink.backlogged());
  CHECK(sink.dropped() == 100 * 1024 - 65536);

  p.rd.reset();
  sink.write("gone\n");
  CHECK(sink.dropped() == 100 * 1024 - 65536 + 5);
  sink.write("still gone\n");
  CHECK_FALSE(sink.backlogged());
}

TEST_CASE("sockets and regular files") {
  int sv[2];
  REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
  UniqueFd a(sv[0]), b(sv[1]);
  {
    OutputSink sink(a.get());
    CHECK(sink.fd() == a.get());  // MSG_DONTWAIT, no reopening
    for (int i = 0; i < 4096 && !sink.backlogged(); ++i) sink.write(std::string(1024, 'z'));
    CHECK(sink.backlogged());
    CHECK((::fcntl(a.get(), F_GETFL) & O_NONBLOCK) == 0);
  }
  podtest::TempDir t;
  const std::string path = t.path() + "/out";
  UniqueFd f(::open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644));
  OutputSink file(f.get());
  file.write("one\n");
  file.write("two\n");
  CHECK_FALSE(file.backlogged());
  CHECK(pod::read_file_at(AT_FDCWD, path) == "one\ntwo\n");
}
