// pod::sd: the sd_notify relay against real datagram sockets, and the
// machined/journal no-op contract when systemd is not PID 1.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>

#include "helpers.hpp"
#include "systemd/journal.hpp"
#include "systemd/machine.hpp"
#include "contract/runtime.hpp"
#include "stage1abi/stage1.hpp"
#include "systemd/sd.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"

using namespace pod;
using podtest::TempDir;

namespace {
// Plays the service manager: a datagram socket that NOTIFY_SOCKET points to.
class FakeManager {
 public:
  explicit FakeManager(const std::string& path) : path_(path) {
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    REQUIRE(fd_ >= 0);
    struct sockaddr_un sa {};
    sa.sun_family = AF_UNIX;
    REQUIRE(path.size() < sizeof(sa.sun_path));
    std::strcpy(sa.sun_path, path.c_str());
    REQUIRE(::bind(fd_, reinterpret_cast<struct sockaddr*>(&sa), sizeof(sa)) == 0);
    const char* old = std::getenv("NOTIFY_SOCKET");
    if (old) saved_ = old;
    ::setenv("NOTIFY_SOCKET", path.c_str(), 1);
  }
  ~FakeManager() {
    if (saved_) ::setenv("NOTIFY_SOCKET", saved_->c_str(), 1);
    else ::unsetenv("NOTIFY_SOCKET");
    ::close(fd_);
  }
  // The next datagram, or "" after timeout.
  std::string receive(int timeout_ms = 2000) {
    struct pollfd p {fd_, POLLIN, 0};
    if (::poll(&p, 1, timeout_ms) <= 0) return "";
    char buf[4096];
    ssize_t n = ::recv(fd_, buf, sizeof(buf), 0);
    return n > 0 ? std::string(buf, static_cast<size_t>(n)) : "";
  }

 private:
  std::string path_;
  int fd_ = -1;
  std::optional<std::string> saved_;
};

void send_to(const std::string& path, const std::string& msg) {
  int s = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  REQUIRE(s >= 0);
  struct sockaddr_un sa {};
  sa.sun_family = AF_UNIX;
  REQUIRE(path.size() < sizeof(sa.sun_path));
  std::strcpy(sa.sun_path, path.c_str());
  CHECK(::sendto(s, msg.data(), msg.size(), 0, reinterpret_cast<struct sockaddr*>(&sa), sizeof(sa)) ==
        static_cast<ssize_t>(msg.size()));
  ::close(s);
}

struct NoNotifySocket {
  std::optional<std::string> saved;
  NoNotifySocket() {
    if (const char* e = std::getenv("NOTIFY_SOCKET")) saved = e;
    ::unsetenv("NOTIFY_SOCKET");
  }
  ~NoNotifySocket() {
    if (saved) ::setenv("NOTIFY_SOCKET", saved->c_str(), 1);
  }
};

// Shown once in the unit test output so a skipped systemd test is not silent.
const bool kAnnounced = [] {
  if (!sd::booted())
    std::fprintf(stderr, "[skip] machined/journal tests need systemd as PID 1 (sd_booted() is false here)\n");
  return true;
}();
}  // namespace

TEST_CASE("notify_ready sends READY=1 and STATUS to NOTIFY_SOCKET (direct mode)") {
  TempDir t;
  FakeManager mgr(t.path() + "/manager");
  CHECK(sd::notify_socket_set());
  CHECK(sd::notify_ready("pod started"));
  CHECK(mgr.receive() == "READY=1\nSTATUS=pod started");
}

TEST_CASE("without NOTIFY_SOCKET every notify call is a quiet no-op") {
  NoNotifySocket none;
  CHECK_FALSE(sd::notify_socket_set());
  CHECK_FALSE(sd::notify_ready());
  CHECK_FALSE(sd::notify("STATUS=x"));
  // The relay still works and still sees readiness; it just has nowhere to forward.
  TempDir t;
  UniqueFd d = open_dir(t.path());
  auto relay = sd::NotifyRelay::open(d.get());
  send_to(relay.path(), "READY=1");
  auto ev = relay.pump(2000);
  CHECK(ev.ready);
}

TEST_CASE("filter_app_notify keeps readiness and status, drops MAINPID and fd store") {
  CHECK(sd::filter_app_notify("READY=1\nSTATUS=up\nMAINPID=1\nFDSTORE=1") == "READY=1\nSTATUS=up");
  CHECK(sd::filter_app_notify("MAINPID=4242") == "");
  CHECK(sd::filter_app_notify("STOPPING=1") == "STOPPING=1");
  CHECK(sd::filter_app_notify("READY=10") == "");
}

TEST_CASE("NotifyRelay forwards what an app in the pod sends to the real NOTIFY_SOCKET") {
  TempDir t;
  FakeManager mgr(t.path() + "/manager");
  UniqueFd state = mkdirs_at(open_dir(t.path()).get(), "pod/stage1-state");
  auto relay = sd::NotifyRelay::open(state.get(), "notify");
  CHECK(relay.path() == t.path() + "/pod/stage1-state/notify");
  CHECK(exists_at(state.get(), "notify"));

  SUBCASE("a plain datagram, with a line the app may not send") {
    send_to(relay.path(), "STATUS=warming up\nMAINPID=1\n");
    auto ev = relay.pump(2000);
    CHECK_FALSE(ev.ready);
    REQUIRE(ev.forwarded.size() == 1);
    CHECK(ev.dropped == std::vector<std::string>{"MAINPID=1"});
    CHECK(mgr.receive() == "STATUS=warming up");
    send_to(relay.path(), "READY=1");
    ev = relay.pump(2000);
    CHECK(ev.ready);
    CHECK(mgr.receive() == "READY=1");
  }
  SUBCASE("libsystemd's own sd_notify from the app, with SCM_CREDENTIALS attached") {
    pod::Child kid = podtest::spawn_child([&] {
      ::setenv("NOTIFY_SOCKET", relay.path().c_str(), 1);
      return ::sd_pid_notify(::getpid(), 0, "READY=1\nSTATUS=app up") > 0 ? 0 : 1;
    });
    CHECK(podtest::wait_child(kid) == 0);
    auto ev = relay.pump(2000);
    CHECK(ev.ready);
    CHECK(mgr.receive() == "READY=1\nSTATUS=app up");
  }
  SUBCASE("a stale socket file from an earlier run is replaced") {
    relay.close();
    CHECK_FALSE(exists_at(state.get(), "notify"));
    auto again = sd::NotifyRelay::open(state.get(), "notify");
    auto again2 = sd::NotifyRelay::open(state.get(), "notify");  // replaces the bound one too
    send_to(again2.path(), "READY=1");
    CHECK(again2.pump(2000).ready);
  }
}

TEST_CASE("NotifyRelay binds below data dirs longer than sun_path") {
  TempDir t;
  FakeManager mgr(t.path() + "/manager");
  std::string deep(40, 'd');
  UniqueFd d = mkdirs_at(open_dir(t.path()).get(), deep + "/" + deep + "/" + deep + "/stage1-state");
  auto relay = sd::NotifyRelay::open(d.get());
  REQUIRE(relay.path().size() > 108);
  // Clients reach it the same way (a long path goes through /proc/self/fd too).
  send_to("/proc/self/fd/" + std::to_string(d.get()) + "/notify", "READY=1");
  CHECK(relay.pump(2000).ready);
  CHECK(mgr.receive() == "READY=1");
}

TEST_CASE("PodNotifier: started mode sends READY=1 once, when the pod init says every app started") {
  TempDir t;
  FakeManager mgr(t.path() + "/manager");
  sd::PodNotifier n("started", {});
  n.app_message("web", "READY=1");  // apps have no socket in this mode; ignored if anything arrives
  CHECK(mgr.receive(100) == "");
  CHECK(n.init_message("READY=1"));
  CHECK(n.ready_sent());
  CHECK(mgr.receive() == "READY=1\nSTATUS=pod started");
  n.init_message("READY=1");
  CHECK(mgr.receive(100) == "");
}

TEST_CASE("PodNotifier: app mode waits for READY=1 from every app, forwards status at once") {
  TempDir t;
  FakeManager mgr(t.path() + "/manager");
  sd::PodNotifier n("app", {"web", "db"});
  n.init_message("READY=1");  // every app started is not every app ready
  CHECK(mgr.receive(100) == "");
  n.app_message("web", "STATUS=warming\nMAINPID=1\n");
  CHECK(mgr.receive() == "STATUS=warming");
  n.app_message("web", "READY=1");
  CHECK(mgr.receive(100) == "");
  CHECK(n.waiting_for() == std::vector<std::string>{"db"});
  n.app_message("db", "READY=1\nSTATUS=db up");
  CHECK(mgr.receive() == "STATUS=db up\nREADY=1");
  CHECK(n.ready_sent());
  n.app_message("web", "READY=1\nSTATUS=reloaded");  // readiness is said once
  CHECK(mgr.receive() == "STATUS=reloaded");
}

TEST_CASE("PodNotifier: none sends nothing") {
  TempDir t;
  FakeManager mgr(t.path() + "/manager");
  sd::PodNotifier n("none", {"web"});
  n.init_message("READY=1");
  n.app_message("web", "READY=1");
  CHECK(mgr.receive(100) == "");
  CHECK_FALSE(n.ready_sent());
}

TEST_CASE("notify_plan: mode and the apps that get a NOTIFY_SOCKET, from runtime.json") {
  contract::PodManifest pm;
  pm.apps.resize(2);
  pm.apps[0].name = "web";
  pm.apps[1].name = "db";
  auto rt = [](const char* text) { return contract::parse_runtime(text); };
  auto plan = contract::notify_plan(rt(R"({"notifyReady": "app", "notifyApps": ["db"]})"), pm);
  CHECK(plan.mode == "app");
  CHECK(plan.apps == std::vector<std::string>{"db"});
  plan = contract::notify_plan(rt(R"({"notifyReady": "app"})"), pm);  // asked for, no image declared it: every app
  CHECK(plan.apps == std::vector<std::string>{"web", "db"});
  plan = contract::notify_plan(rt(R"({"notifyReady": "started", "notifyApps": ["db"]})"), pm);
  CHECK(plan.mode == "started");
  CHECK(plan.apps.empty());
  CHECK(contract::notify_plan(rt(R"({"notifyReady": "none"})"), pm).mode == "none");
  CHECK_THROWS_WITH_AS(rt(R"({"notifyReady": "bogus"})"), doctest::Contains("runtime.json.notifyReady"), pod::Error);
  CHECK_THROWS_WITH_AS(contract::notify_plan(rt(R"({"notifyReady": "app", "notifyApps": ["../x"]})"), pm),
                       doctest::Contains("not an app of this pod"), pod::Error);
}

TEST_CASE("machined and journal calls are no-ops without systemd as PID 1") {
  if (sd::booted()) return;  // covered by the booted test below
  sd::MachineRegistration m;
  m.pod_uuid = "3f1c2b9e-0d4a-4c1e-9a8b-7c6d5e4f3a2b";
  m.leader = ::getpid();
  CHECK_NOTHROW(CHECK_FALSE(sd::register_machine(m)));
  CHECK_FALSE(sd::terminate_machine(m.pod_uuid));
  if (!sd::journal_available()) CHECK_FALSE(sd::journal_send(m.pod_uuid, "web", "hello"));
  CHECK(sd::machine_name(m.pod_uuid) == "pod-3f1c2b9e0d4a4c1e9a8b7c6d5e4f3a2b");
}

TEST_CASE("machined registration and journal fields with systemd as PID 1" *
          doctest::skip(!sd::booted()) * doctest::description("skipped: needs systemd as PID 1")) {
  pod::Child leader = podtest::spawn_child([] {
    for (;;) ::pause();
    return 0;
  });
  sd::MachineRegistration m;
  m.pod_uuid = "3f1c2b9e-0d4a-4c1e-9a8b-7c6d5e4f3a2b";
  m.leader = leader.pid();
  m.root_directory = "/";
  CHECK(sd::register_machine(m));
  CHECK(sd::terminate_machine(m.pod_uuid));  // kills the leader
  leader.signal(SIGKILL);
  podtest::wait_child(leader);
  CHECK(sd::journal_send(m.pod_uuid, "web", "pod unit test entry"));
}
