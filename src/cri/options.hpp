// The options of the CRI server (`pod cri`, Documentation/kubernetes.md). The
// flags are defined once, here: stage0 registers them (so that man pages and
// completion show them) and hands them to the server binary, pod-cri, which
// parses the same definitions. Header-only: stage0 links no gRPC.
#pragma once
#include <CLI/CLI.hpp>
#include <string>
#include <vector>

namespace pod::cri {

struct Options {
  std::string listen = "unix:///run/pod/cri.sock";  // unix://PATH (the kubelet's --container-runtime-endpoint)
  std::vector<std::string> insecure_registries;    // HOST[:PORT] reached over plain http
  std::string net = "default";                     // the CNI network(s) a sandbox joins (--net)
  std::string stage1_flavor;                       // "" = the configured default
  std::string stream_address = "127.0.0.1";        // where Exec/Attach/PortForward streams are served
  int stream_port = 0;                             // 0 = any free port
};

inline void add_flags(CLI::App& c, Options& o) {
  c.add_option("--listen", o.listen, "unix://PATH the CRI gRPC server listens on")->capture_default_str();
  c.add_option("--insecure-registry", o.insecure_registries,
               "HOST[:PORT] of a registry that may be reached over plain http (repeatable)");
  c.add_option("--net", o.net, "the CNI network(s) each sandbox joins (as pod run --net)")->capture_default_str();
  c.add_option("--stage1-flavor", o.stage1_flavor, "the stage1 flavour of the sandboxes (default: the configured one)");
  c.add_option("--stream-address", o.stream_address, "the address of the streaming server (exec, attach, "
               "port-forward)")->capture_default_str();
  c.add_option("--stream-port", o.stream_port, "its TCP port (0: any free port)")->capture_default_str();
}

// The flags that give `o` again, for pod-cri's command line.
inline std::vector<std::string> to_args(const Options& o) {
  std::vector<std::string> a = {"--listen=" + o.listen, "--net=" + o.net, "--stream-address=" + o.stream_address,
                                "--stream-port=" + std::to_string(o.stream_port)};
  for (const auto& r : o.insecure_registries) a.push_back("--insecure-registry=" + r);
  if (!o.stage1_flavor.empty()) a.push_back("--stage1-flavor=" + o.stage1_flavor);
  return a;
}

}  // namespace pod::cri
