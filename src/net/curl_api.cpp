#include "net/curl_api.hpp"

#include "util/dynlib.hpp"

namespace pod::net {

const CurlApi& curl() {
  static const CurlApi api = [] {
    const DynLib lib = DynLib::open("libcurl.so.4", "HTTP(S) downloads and registries (libcurl)");
    CurlApi a{};
    lib.bind(a.global_init, "curl_global_init");
    lib.bind(a.easy_init, "curl_easy_init");
    lib.bind(a.easy_cleanup, "curl_easy_cleanup");
    lib.bind(a.easy_setopt, "curl_easy_setopt");
    lib.bind(a.easy_perform, "curl_easy_perform");
    lib.bind(a.easy_getinfo, "curl_easy_getinfo");
    lib.bind(a.easy_strerror, "curl_easy_strerror");
    lib.bind(a.slist_append, "curl_slist_append");
    lib.bind(a.slist_free_all, "curl_slist_free_all");
    return a;
  }();
  return api;
}

}  // namespace pod::net
