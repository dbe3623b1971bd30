#include <doctest/doctest.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>

#include "helpers.hpp"
#include "maintenance/fsck.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"
#include "util/lock.hpp"
#include "util/mount.hpp"
#include "util/time.hpp"
#include "util/uuid.hpp"

using namespace pod;
using podtest::TempDir;

TEST_CASE("parse_duration accepts Go-style durations and rejects garbage") {
  CHECK(parse_duration("0", "--x").count() == 0);
  CHECK(parse_duration("250ms", "--x").count() == 250);
  CHECK(parse_duration("90s", "--x").count() == 90000);
  CHECK(parse_duration("30m", "--x").count() == 30 * 60000);
  CHECK(parse_duration("1h30m", "--x").count() == 90 * 60000);
  CHECK(parse_duration("24h", "--x").count() == 24 * 3600000LL);
  CHECK_THROWS_AS(parse_duration("", "--x"), Error);
  CHECK_THROWS_AS(parse_duration("5", "--x"), Error);
  CHECK_THROWS_AS(parse_duration("5y", "--x"), Error);
  CHECK(parse_duration("1.5s", "--x").count() == 1500);
  CHECK(parse_duration(".5s", "--x").count() == 500);
  // These made std::stod throw std::invalid_argument / out_of_range past the CLI's catch.
  for (const char* bad : {".", ".s", "..s", "1.2.3s", "s"}) CHECK_THROWS_AS(parse_duration(bad, "--x"), Error);
  CHECK_THROWS_AS(parse_duration(std::string(400, '9') + "h", "--x"), Error);
  CHECK_THROWS_AS(parse_duration("999999999999h", "--x"), Error);
  try {
    parse_duration("abc", "--grace-period");
    FAIL("expected an error");
  } catch (const Error& e) {
    CHECK(std::string(e.what()).find("--grace-period") != std::string::npos);
    CHECK(e.kind() == ErrorKind::Usage);
  }
}

TEST_CASE("uuids are random v4 in canonical form") {
  auto a = new_uuid(), b = new_uuid();
  CHECK(a != b);
  CHECK(is_canonical_uuid(a));
  CHECK(a[14] == '4');
  CHECK(!is_canonical_uuid("ABCDEF00-0000-4000-8000-000000000000"));
  CHECK(!is_canonical_uuid("../../etc/passwd"));
}

TEST_CASE("clean_relative_path rejects escapes") {
  CHECK(clean_relative_path("a//b/./c") == "a/b/c");
  CHECK_THROWS_AS(clean_relative_path("/etc/passwd"), Error);
  CHECK_THROWS_AS(clean_relative_path("a/../../b"), Error);
  CHECK_THROWS_AS(clean_relative_path(""), Error);
  CHECK_THROWS_AS(clean_relative_path("."), Error);
}

TEST_CASE("open_beneath never leaves the directory") {
  PODTEST_WITH_AND_WITHOUT_OPENAT2(mode);
  TempDir t;
  UniqueFd root = open_dir(t.path());
  mkdirs_at(root.get(), "inside/sub");
  write_file_at(root.get(), "inside/sub/f", "x");
  REQUIRE(::symlinkat("/etc", root.get(), "inside/abs") == 0);
  REQUIRE(::symlinkat("../..", root.get(), "inside/up") == 0);
  CHECK(open_beneath(root.get(), "inside/sub/f", O_RDONLY));
  CHECK_THROWS_AS(open_beneath(root.get(), "inside/abs/passwd", O_RDONLY), Error);
  CHECK_THROWS_AS(open_beneath(root.get(), "inside/up/x", O_RDONLY), Error);
  CHECK_THROWS_AS(open_beneath(root.get(), "../x", O_RDONLY), Error);
  CHECK_THROWS_AS(mkdirs_at(root.get(), "inside/abs/newdir"), Error);
  struct stat st;
  CHECK(::stat("/etc/newdir", &st) != 0);
  // The last component is never followed either; creating through a dangling link fails.
  REQUIRE(::symlinkat("sub/f", root.get(), "inside/tofile") == 0);
  TempDir out;
  const std::string victim = out.path() + "/victim";
  REQUIRE(::symlinkat(victim.c_str(), root.get(), "inside/dangling") == 0);
  CHECK_THROWS_AS(open_beneath(root.get(), "inside/tofile", O_RDONLY), Error);
  CHECK_THROWS_AS(open_beneath(root.get(), "inside/dangling", O_WRONLY | O_CREAT, 0644), Error);
  CHECK(::stat(victim.c_str(), &st) != 0);
  CHECK(open_beneath(root.get(), "inside/sub/new", O_WRONLY | O_CREAT | O_EXCL, 0644));
  mode.check_fallback();
}

TEST_CASE("set_openat2_for_tests switches the fallback on and off") {
  TempDir t;
  UniqueFd root = open_dir(t.path());
  write_file_at(root.get(), "f", "x");
  set_openat2_for_tests(false);
  CHECK_FALSE(openat2_enabled());
  unsigned long before = openat2_fallbacks();
  CHECK(open_beneath(root.get(), "f", O_RDONLY));
  CHECK(openat2_fallbacks() == before + 1);
  set_openat2_for_tests(true);
  before = openat2_fallbacks();
  CHECK(open_beneath(root.get(), "f", O_RDONLY));
  if (openat2_enabled()) CHECK(openat2_fallbacks() == before);  // else this kernel has no openat2
  set_openat2_for_tests(std::nullopt);  // POD_NO_OPENAT2 is tested on the real binary: test_images_hostile.py
}

TEST_CASE("atomic writes replace content and leave no temp files") {
  TempDir t;
  UniqueFd root = open_dir(t.path());
  write_file_atomic_at(root.get(), "f", "one");
  write_file_atomic_at(root.get(), "f", "two", 0600);
  CHECK(read_file_at(root.get(), "f") == "two");
  CHECK(list_dir(root.get()).size() == 1);
  write_file_atomic_at(AT_FDCWD, t.path() + "/g", "three");
  CHECK(read_file(t.path() + "/g") == "three");
  CHECK_THROWS_AS(read_file_at(root.get(), "missing"), Error);
  CHECK_FALSE(try_read_file_at(root.get(), "missing").has_value());
}

TEST_CASE("remove_tree_at removes deep trees without following symlinks") {
  TempDir t, victim;
  UniqueFd root = open_dir(t.path());
  write_file_at(AT_FDCWD, victim.path() + "/keep", "precious");
  mkdirs_at(root.get(), "tree/a/b/c");
  write_file_at(root.get(), "tree/a/b/c/file", "x");
  REQUIRE(::symlinkat(victim.path().c_str(), root.get(), "tree/a/link") == 0);
  remove_tree_at(root.get(), "tree");
  CHECK_FALSE(exists_at(root.get(), "tree"));
  CHECK(read_file(victim.path() + "/keep") == "precious");
  remove_tree_at(root.get(), "tree");  // missing is fine
}

TEST_CASE("mountinfo parsing decodes escaped mount points") {
  TempDir t;
  std::string f = t.path() + "/mi";
  std::ofstream(f) << "36 35 98:0 /mnt1 /mnt/with\\040space rw,noatime master:1 - ext3 /dev/root rw\n"
                      "37 36 0:5 / /proc rw - proc proc rw\n";
  auto m = read_mountinfo(f);
  REQUIRE(m.size() == 2);
  CHECK(m[0].mount_point == "/mnt/with space");
  CHECK(m[0].fstype == "ext3");
  CHECK(m[1].parent == 36);
}

TEST_CASE("unmount_below unmounts stacked mounts deepest first" * doctest::skip(geteuid() != 0)) {
  TempDir t;
  UniqueFd root = open_dir(t.path());
  mkdirs_at(root.get(), "a/b");
  std::string a = t.path() + "/a", b = t.path() + "/a/b";
  REQUIRE(system(("mount -t tmpfs none " + a + " && mkdir " + b + " && mount -t tmpfs none " + b +
                  " && mount -t tmpfs none " + b).c_str()) == 0);
  CHECK(mounts_below(t.path()).size() == 3);
  auto rep = unmount_below(t.path());
  CHECK(rep.unmounted.size() == 3);
  CHECK(mounts_below(t.path()).empty());
}

TEST_CASE("a removed lock file never leaves two holders: a waiter on the old inode starts over") {
  podtest::TempDir t;
  UniqueFd d = open_dir(t.path());
  FileLock held = FileLock::acquire(d.get(), "img-x", LockMode::Exclusive);
  int ready[2];
  REQUIRE(::pipe(ready) == 0);
  // The child opens the file now (its acquire blocks on the inode we hold),
  // then gets the lock only once we removed the file; it must hold the lock
  // on the file the name leads to afterwards, not on the removed inode.
  pod::Child kid = podtest::spawn_child([&] {
    ::close(held.fd());  // our copy of the parent's open file description would keep its lock alive
    ::close(ready[0]);
    (void)!::write(ready[1], "x", 1);
    FileLock mine = FileLock::acquire(d.get(), "img-x", LockMode::Exclusive);
    struct stat named, locked;
    if (::fstatat(d.get(), "img-x", &named, 0) < 0 || ::fstat(mine.fd(), &locked) < 0) return 2;
    if (named.st_ino != locked.st_ino) return 3;
    ::sleep(1);  // hold it while the parent checks
    return 0;
  });
  ::close(ready[1]);
  char c;
  REQUIRE(::read(ready[0], &c, 1) == 1);
  ::usleep(100 * 1000);  // let the child block in flock on the old inode
  held.remove(d.get(), "img-x");
  CHECK_FALSE(held);
  // Whoever comes next sees the child's lock on the new file.
  bool taken = false;
  for (int i = 0; i < 100 && !taken; ++i) {
    FileLock probe = FileLock::try_acquire(d.get(), "img-x", LockMode::Exclusive);
    taken = !probe;
    if (!taken) ::usleep(5 * 1000);
  }
  CHECK(taken);
  CHECK(podtest::wait_child(kid) == 0);
  ::close(ready[0]);
  // Removal of a free key leaves nothing behind.
  FileLock again = FileLock::acquire(d.get(), "img-x", LockMode::Exclusive);
  again.remove(d.get(), "img-x");
  CHECK_FALSE(exists_at(d.get(), "img-x"));
}

TEST_CASE("fsck: a temp file of write_file_atomic_at is stale only when its writer is gone") {
  const std::string alive = std::to_string(::getpid());
  CHECK_FALSE(fsck::stale_temp_name(".x.json.tmp-" + alive + "-42"));
  CHECK(fsck::stale_temp_name(".x.json.tmp-2147483646-42"));  // above any pid_max
  CHECK_FALSE(fsck::stale_temp_name("x.json.tmp-2147483646-42"));  // not a hidden temp name
  CHECK_FALSE(fsck::stale_temp_name(".x.json.tmp-abc-1"));
  CHECK_FALSE(fsck::stale_temp_name(".x.json.tmp--1"));
  CHECK_FALSE(fsck::stale_temp_name(".x.json"));
  CHECK_FALSE(fsck::stale_temp_name(".x.json.tmp-99999999999999999999-1"));  // too long for a pid
}
