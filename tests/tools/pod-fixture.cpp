// pod-fixture: makes pods in a chosen state through the library, for the
// functional tests and benchmarks (stands in for prepare/run where the test
// is about the store, not about running anything).
//
//   pod-fixture DIR STATE [COUNT] [APPNAME]
// STATE: prepared | exited | exited-garbage | aborted | running | embryo
// Prints one UUID per line. For `running`, a child process keeps the lock
// until it is killed; its pid follows the UUID on the same line.
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <string>

#include "pods/info.hpp"
#include "pods/pod.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"
#include "util/process.hpp"

using namespace pod;

namespace {
void write_manifest(Pod& p, const std::string& app) {
  std::string m = R"({"acKind":"PodManifest","acVersion":"0.8.11","apps":[{"name":")" + app +
                  R"(","image":{"name":"example.com/)" + app + R"(","id":"sha512-0000","labels":[{"name":"version","value":"1.0"}]},"app":{"exec":["/bin/true"]}}]})";
  write_file_at(p.fd(), poddir::kManifest, m, 0640);
}
}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::cerr << "usage: pod-fixture DIR STATE [COUNT] [APPNAME]\n";
    return 2;
  }
  try {
    Store s = Store::open(argv[1]);
    std::string state = argv[2];
    int count = argc > 3 ? std::stoi(argv[3]) : 1;
    std::string app = argc > 4 ? argv[4] : "app";
    for (int i = 0; i < count; ++i) {
      Pod p = Pod::create(s);
      if (state == "embryo") {
        p.unlock();
        std::cout << p.uuid() << "\n";
        continue;
      }
      p.to_preparing();
      write_manifest(p, app);
      if (state == "aborted") {
        p.unlock();
      } else if (state == "prepared") {
        p.to_prepared();
      } else if (state == "exited" || state == "exited-garbage") {
        p.to_run();
        UniqueFd sd = mkdirs_at(p.fd(), poddir::kAppStatusDir);
        write_file_at(sd.get(), app, format_app_status(AppStatus{}));
        p.unlock();
        if (state == "exited-garbage") {
          p.to_exited_garbage();
          p.unlock();
        }
      } else if (state == "running") {
        p.to_run();
        std::cout.flush();
        // Keeps the inherited lock description alive, like stage1 does, and
        // outlives us.
        ChildOptions o;
        o.setsid = true;
        o.in = o.out = o.err = Redirect::null();
        o.on_destroy = ChildOptions::OnDestroy::kDetach;
        const pid_t kid = Child::start_function(
                              [] {
                                for (;;) ::pause();
                                return 0;
                              },
                              o)
                              .pid();
        write_file_at(p.fd(), poddir::kPid, std::to_string(kid) + "\n");
        write_file_at(p.fd(), poddir::kReady, "");
        std::cout << p.uuid() << " " << kid << "\n";
        continue;
      } else {
        std::cerr << "unknown state " << state << "\n";
        return 2;
      }
      std::cout << p.uuid() << "\n";
    }
  } catch (const Error& e) {
    std::cerr << "pod-fixture: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
