#include "util/dynlib.hpp"

#include <dlfcn.h>

#include "util/error.hpp"

namespace pod {

DynLib DynLib::open(const std::string& soname, const std::string& purpose) {
  void* h = ::dlopen(soname.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!h) {
    const char* why = ::dlerror();
    throw Error("cannot load " + soname + ", needed for " + purpose + ": " + (why ? why : "unknown error") +
                    " (is its package installed?)",
                0, ErrorKind::Failed);
  }
  return DynLib(h, soname);
}

void* DynLib::symbol(const char* name) const {
  ::dlerror();
  void* p = ::dlsym(handle_, name);
  if (!p) throw Error(soname_ + " has no " + name + ": an incompatible version is installed", 0, ErrorKind::Failed);
  return p;
}

}  // namespace pod
