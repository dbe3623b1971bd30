// Mount hygiene of the store: private mount points for what stage0 mounts
// below a pod, and gc's handling of busy mounts (report, retry, detach last).
#include <doctest/doctest.h>
#include <fcntl.h>
#include <sys/mount.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>

#include "helpers.hpp"
#include "pods/gc.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"
#include "util/mount.hpp"

using namespace pod;
using podtest::TempDir;

namespace {
bool mounted(const std::string& p) { return is_mount_point(p); }

void sh(const std::string& cmd) { REQUIRE_MESSAGE(std::system(cmd.c_str()) == 0, cmd); }

GcSettings zero_grace(int busy_retries = kDefaultBusyRetries) {
  GcSettings o;
  o.grace_period = std::chrono::milliseconds(0);
  o.busy_retries = busy_retries;
  return o;
}

// An exited-garbage pod with a tmpfs at $P/stage1/rootfs, as a stage0 overlay would be.
std::string pod_with_mount(const Store& s, std::string& uuid) {
  Pod p = Pod::create(s);
  p.to_preparing();
  p.to_run();
  p.unlock();
  p.to_exited_garbage();
  p.unlock();
  uuid = p.uuid();
  mkdirs_at(p.fd(), "stage1/rootfs");
  std::string mp = p.path() + "/stage1/rootfs";
  sh("mount -t tmpfs pod-test " + mp);
  return mp;
}
}  // namespace

TEST_CASE("make_private_mountpoint: mounts below it do not propagate to a peer" * doctest::skip(geteuid() != 0)) {
  TempDir t;
  const std::string a = t.path() + "/a", b = t.path() + "/b";
  UniqueFd root = open_dir(t.path());
  mkdirs_at(root.get(), "a/control");
  mkdirs_at(root.get(), "a/pod/stage1");
  mkdirs_at(root.get(), "b");
  // a is shared and b is its peer: what is mounted below a shows up below b.
  sh("mount --bind " + a + " " + a + " && mount --make-shared " + a + " && mount --bind " + a + " " + b);
  sh("mount -t tmpfs control " + a + "/control");
  CHECK(mounted(b + "/control"));  // the control: propagation is on

  make_private_mountpoint(a + "/pod/stage1");
  CHECK(mounted(a + "/pod/stage1"));
  mkdirs_at(root.get(), "a/pod/stage1/rootfs");
  sh("mount -t tmpfs inner " + a + "/pod/stage1/rootfs");
  CHECK(mounted(a + "/pod/stage1/rootfs"));
  CHECK_FALSE(mounted(b + "/pod/stage1/rootfs"));
  make_private_mountpoint(a + "/pod/stage1");  // already one: only made private again
  CHECK_THROWS_AS(make_private_mountpoint("relative/path"), Error);

  // Why it goes on $P/stage1 and not on $P: a mount point cannot be renamed,
  // a directory with mounts below it can.
  UniqueFd ad = open_dir(a);
  mkdirs_at(ad.get(), "moved");
  CHECK(::renameat(ad.get(), "pod/stage1", ad.get(), "moved/stage1") < 0);
  CHECK(errno == EBUSY);
  CHECK(::renameat(ad.get(), "pod", ad.get(), "moved/pod") == 0);
  CHECK(mounted(a + "/moved/pod/stage1/rootfs"));

  unmount_below(t.path());
  CHECK(mounts_below(t.path()).empty());
}

TEST_CASE("try_unmount_below leaves a busy mount in place and says so" * doctest::skip(geteuid() != 0)) {
  TempDir t;
  mkdirs_at(open_dir(t.path()).get(), "m");
  const std::string m = t.path() + "/m";
  sh("mount -t tmpfs busy " + m);
  int fd = ::open((m + "/held").c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0600);
  REQUIRE(fd >= 0);
  auto rep = try_unmount_below(t.path());
  CHECK(rep.busy == std::vector<std::string>{m});
  CHECK(rep.detached.empty());
  CHECK(mounted(m));
  ::close(fd);
  rep = try_unmount_below(t.path());
  CHECK(rep.busy.empty());
  CHECK(rep.unmounted == std::vector<std::string>{m});
}

TEST_CASE("gc reports a busy mount, retries it on the next run, and collects once released" *
          doctest::skip(geteuid() != 0)) {
  TempDir t;
  Store s = Store::open(t.path());
  std::string uuid;
  std::string mp = pod_with_mount(s, uuid);
  int fd = ::open((mp + "/held").c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0600);
  REQUIRE(fd >= 0);
  for (int run = 1; run <= kDefaultBusyRetries; ++run) {
    auto r = gc_pods(s, zero_grace(), nullptr, [](const std::string&) {});
    REQUIRE(r.failures.size() == 1);
    CHECK(r.failures[0].find("is busy") != std::string::npos);
    CHECK(r.failures[0].find("left for the next run") != std::string::npos);
    CHECK(r.collected.empty());
    CHECK(Pod::open(s, uuid).state() == PodState::ExitedGarbage);
    CHECK(mounted(mp));
  }
  ::close(fd);
  auto r = gc_pods(s, zero_grace(), nullptr, [](const std::string&) {});
  CHECK(r.failures.empty());
  CHECK(r.detached.empty());
  CHECK(r.collected == std::vector<std::string>{uuid});
  CHECK(mounts_below(t.path()).empty());
}

TEST_CASE("gc detaches a mount that stays busy only as a last resort, and reports it" *
          doctest::skip(geteuid() != 0)) {
  TempDir t;
  Store s = Store::open(t.path());
  std::string uuid;
  std::string mp = pod_with_mount(s, uuid);
  int fd = ::open((mp + "/held").c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0600);
  REQUIRE(fd >= 0);
  CHECK(gc_pods(s, zero_grace(1), nullptr, [](const std::string&) {}).failures.size() == 1);
  std::vector<std::string> logs;
  auto r = gc_pods(s, zero_grace(1), nullptr, [&](const std::string& m) { logs.push_back(m); });
  CHECK(r.failures.empty());
  REQUIRE(r.detached.size() == 1);
  CHECK(r.detached[0].find(mp) != std::string::npos);
  CHECK(std::any_of(logs.begin(), logs.end(), [](auto& l) { return l.find("detached lazily") != std::string::npos; }));
  CHECK(r.collected == std::vector<std::string>{uuid});
  CHECK(mounts_below(t.path()).empty());
  ::close(fd);
}
