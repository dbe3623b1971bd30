// registry-probe: the registry client (src/images/registry.hpp) from the
// command line, for tests/functional/test_registry_client.py.
//
//   registry-probe [--insecure-http] [--insecure-tls] [--platform P] [--auth-file F] REF manifest
//   registry-probe [...] REF blob DIGEST OUTFILE
//
// manifest prints "digest <sha256:...>", "media-type <type>" and the body;
// blob appends the blob to OUTFILE (resuming) and prints "ok <size>".
// A failure prints "registry-probe: <error kind>: <message>" and exits 1
// (2 for bad arguments of the probe itself).
#include <fcntl.h>
#include <sys/stat.h>

#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include "images/registry.hpp"
#include "util/error.hpp"
#include "util/fd.hpp"

using namespace pod;
using namespace pod::images;

int main(int argc, char** argv) {
  RegistryOptions o;
  std::string platform;
  std::vector<std::string> pos;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--insecure-http") {
      o.insecure_http = true;
    } else if (a == "--insecure-tls") {
      o.insecure_tls = true;
    } else if (a == "--platform" && i + 1 < argc) {
      platform = argv[++i];
    } else if (a == "--auth-file" && i + 1 < argc) {
      o.auth_file = argv[++i];
    } else {
      pos.push_back(a);
    }
  }
  const bool manifest = pos.size() == 2 && pos[1] == "manifest";
  const bool blob = pos.size() == 4 && pos[1] == "blob";
  if (!manifest && !blob) {
    std::cerr << "usage: registry-probe [--insecure-http] [--insecure-tls] [--platform P] [--auth-file F] "
                 "REF manifest|blob DIGEST OUTFILE\n";
    return 2;
  }
  try {
    o.platform = oci::parse_platform(platform);
    RegistryClient c(parse_registry_ref(pos[0]), o);
    if (manifest) {
      const auto m = c.image_manifest();
      std::cout << "digest " << m.digest << "\nmedia-type " << m.media_type << "\n" << m.body << "\n";
    } else {
      UniqueFd fd(::open(pos[3].c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
      if (!fd) throw_sys("cannot open " + pos[3]);
      c.blob_to_fd(pos[2], fd.get(), 0, nullptr);
      struct stat st;
      ::fstat(fd.get(), &st);
      std::cout << "ok " << st.st_size << "\n";
    }
  } catch (const Error& e) {
    std::cerr << "registry-probe: " << error_kind_name(e.kind()) << ": " << e.what() << "\n";
    return 1;
  }
  return 0;
}
