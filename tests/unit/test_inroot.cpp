// open_in_root / mkdirs_in_root (src/util/inroot.cpp): paths in an app's
// rootfs never resolve outside it, with openat2(RESOLVE_IN_ROOT) and with
// the fallback walk (openat2 forced off), which refuses symlinks instead.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "helpers.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"
#include "util/inroot.hpp"

using namespace pod;
using podtest::TempDir;

namespace {

// t/root is the app's root; t/outside and t/etc stand for the host.
struct Tree {
  TempDir t;
  UniqueFd top = open_dir(t.path());
  UniqueFd root;
  Tree() {
    mkdirs_at(top.get(), "root/etc");
    mkdirs_at(top.get(), "root/outside");  // where "up" leads in the root
    mkdirs_at(top.get(), "outside");
    mkdirs_at(top.get(), "etc");
    write_file_at(top.get(), "root/etc/passwd", "inside");
    write_file_at(top.get(), "etc/passwd", "HOST");
    write_file_at(top.get(), "outside/secret", "HOST");
    root = open_dir(t.path() + "/root");
    // The hostile image's links: absolute, climbing, and climbing out of a subdir.
    REQUIRE(::symlinkat("/etc", root.get(), "abs") == 0);
    REQUIRE(::symlinkat("../outside", root.get(), "up") == 0);
    REQUIRE(::symlinkat("../../../../../..", root.get(), "etc/deep") == 0);
    REQUIRE(::symlinkat("/etc/passwd", root.get(), "pw") == 0);
  }
  std::string read(int fd) { return read_fd(fd, "test file"); }
  bool outside_exists(const std::string& rel) { return exists_at(top.get(), rel); }
};

// What opening `path` in the root gives: its content, "" when missing, "error" when refused.
std::string content(Tree& t, const std::string& path) {
  try {
    UniqueFd fd = try_open_in_root(t.root.get(), path, O_RDONLY);
    return fd ? t.read(fd.get()) : "";
  } catch (const Error&) {
    return "error";
  }
}

}  // namespace

TEST_CASE("open_in_root: symlinks and .. never leave the root") {
  PODTEST_WITH_AND_WITHOUT_OPENAT2(mode);
  Tree t;
  CHECK(content(t, "/etc/passwd") == "inside");
  CHECK(content(t, "etc//./passwd") == "inside");
  if (mode.on() && openat2_enabled()) {
    // Followed, as if the root were "/".
    CHECK(content(t, "/abs/passwd") == "inside");
    CHECK(content(t, "/pw") == "inside");
    CHECK(content(t, "/up/secret") == "");  // root/outside/secret does not exist
    CHECK(content(t, "/etc/deep/etc/passwd") == "inside");
    CHECK(content(t, "/../../etc/passwd") == "inside");
    CHECK(content(t, "/etc/../../../outside/secret") == "");
  } else {
    // The walk follows no symlink and takes no "..": missing or refused, never the host's file.
    CHECK(content(t, "/abs/passwd") == "");
    CHECK(content(t, "/pw") == "error");
    CHECK(content(t, "/up/secret") == "");
    CHECK(content(t, "/etc/deep/etc/passwd") == "");
    CHECK(content(t, "/../../etc/passwd") == "error");
    CHECK(content(t, "/etc/../../../outside/secret") == "error");
  }
  mode.check_fallback();
}

TEST_CASE("open_in_root with O_PATH: a final symlink is resolved in the root, or refused") {
  PODTEST_WITH_AND_WITHOUT_OPENAT2(mode);
  Tree t;
  struct stat inside_etc = stat_fd(open_dir(t.t.path() + "/root/etc").get());
  if (mode.on() && openat2_enabled()) {
    UniqueFd fd = open_in_root(t.root.get(), "/abs", O_PATH);
    struct stat st = stat_fd(fd.get());
    CHECK(st.st_ino == inside_etc.st_ino);
  } else {
    // Without the check the walk would hand out an O_PATH fd of the link itself (a mount target
    // through /proc/self/fd/N).
    try {
      open_in_root(t.root.get(), "/abs", O_PATH);
      FAIL("a symlink was opened");
    } catch (const Error& e) {
      CHECK(e.errnum() == ELOOP);
    }
  }
  // Asked for explicitly, the link itself is fine in both.
  UniqueFd link = open_in_root(t.root.get(), "/abs", O_PATH | O_NOFOLLOW);
  CHECK(S_ISLNK(stat_fd(link.get()).st_mode));
  mode.check_fallback();
}

TEST_CASE("mkdirs_in_root creates inside the root or not at all") {
  PODTEST_WITH_AND_WITHOUT_OPENAT2(mode);
  Tree t;
  UniqueFd d = mkdirs_in_root(t.root.get(), "/a/b/c");
  CHECK(t.outside_exists("root/a/b/c"));
  struct stat made = stat_fd(d.get()), there;
  REQUIRE(::fstatat(t.top.get(), "root/a/b/c", &there, 0) == 0);
  CHECK(made.st_ino == there.st_ino);
  for (const char* p : {"/abs/newdir", "/up/newdir", "/etc/deep/newdir", "/../newdir"}) {
    CAPTURE(p);
    try {
      mkdirs_in_root(t.root.get(), p);
      CHECK(mode.on());  // only openat2 resolves these (inside the root)
    } catch (const Error&) {
      CHECK_FALSE((mode.on() && openat2_enabled()));
    }
  }
  CHECK_FALSE(t.outside_exists("etc/newdir"));
  CHECK_FALSE(t.outside_exists("outside/newdir"));
  CHECK_FALSE(t.outside_exists("newdir"));
  if (mode.on() && openat2_enabled()) {
    CHECK(t.outside_exists("root/etc/newdir"));
    CHECK(t.outside_exists("root/outside/newdir"));
    CHECK(t.outside_exists("root/newdir"));
  }
  mode.check_fallback();
}
