// pod-cri: the CRI gRPC server that `pod cri` execs (stage0/cmd_cri.cpp,
// Documentation/kubernetes.md). Same flags; errors and exit codes as pod's.
#include <CLI/CLI.hpp>
#include <iostream>

#include "cri/server.hpp"
#include "exitcodes.hpp"
#include "systemd/sd.hpp"

int main(int argc, char** argv) {
  CLI::App app{"pod-cri: the Kubernetes CRI server of pod (run it as `pod cri`)", "pod-cri"};
  pod::cri::Options o;
  std::string dir;
  bool debug = false;
  app.add_option("--dir", dir, "Data directory");
  app.add_flag("--debug", debug, "Print debug messages on stderr");
  pod::cri::add_flags(app, o);
  CLI11_PARSE(app, argc, argv);
  try {
    pod::cri::Env env{pod::Runtime::open(dir).data_dir(), o};
    pod::cri::serve(env, [&](const std::string& addr) {
      std::cerr << "pod: CRI server listening on " << addr << " (data dir " << env.data_dir << ")\n";
      pod::sd::notify_ready("serving the CRI on " + addr);
    });
    return 0;
  } catch (const pod::Error& e) {
    std::cerr << "pod: " << e.what() << "\n";
    return pod::cli::exit_code_for(e);
  }
}
