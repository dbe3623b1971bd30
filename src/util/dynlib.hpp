// Libraries loaded on first use (dlopen) instead of at every start.
//
// libcurl and gpgme pull in ~35 further libraries (TLS, Kerberos, LDAP, ICU,
// …) whose loading and relocation cost every `pod` command ~3 ms of CPU and
// more wall time, also the many that never fetch or verify anything
// (Documentation/performance.md). Their few entry points are resolved here
// when first needed; the headers still give the types, so a call through a
// pointer is checked as a direct call would be. A library is never unloaded.
#pragma once
#include <string>

namespace pod {

class DynLib {
 public:
  // dlopen(soname); pod::Error naming the library and `purpose` when it cannot be loaded.
  static DynLib open(const std::string& soname, const std::string& purpose);

  // The function `name` as a pointer of type F (from decltype(&::name)); an
  // error naming the symbol when the library lacks it.
  template <class F>
  F fn(const char* name) const {
    return reinterpret_cast<F>(symbol(name));
  }
  template <class F>
  void bind(F& f, const char* name) const {
    f = fn<F>(name);
  }

 private:
  DynLib(void* h, std::string soname) : handle_(h), soname_(std::move(soname)) {}
  void* symbol(const char* name) const;
  void* handle_;
  std::string soname_;
};

// The entry-point table Api of `soname`, loaded and filled by `bind(lib, api)`
// on first use (thread-safe); an error is thrown again at the next call.
template <class Api, class Bind>
const Api& load_once(const char* soname, const char* purpose, Bind bind) {
  static const Api api = [&] {
    const DynLib lib = DynLib::open(soname, purpose);
    Api a{};
    bind(lib, a);
    return a;
  }();
  return api;
}

}  // namespace pod
