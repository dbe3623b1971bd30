#include "net/curl_api.hpp"

#include "util/dynlib.hpp"

namespace pod::net {

const CurlApi& curl() {
  return load_once<CurlApi>("libcurl.so.4", "HTTP(S) downloads and registries (libcurl)", [](const DynLib& lib, CurlApi& a) {
#define POD_DYNLIB_BIND(field, symbol) lib.bind(a.field, #symbol);
    POD_CURL_FNS(POD_DYNLIB_BIND)
#undef POD_DYNLIB_BIND
  });
}

}  // namespace pod::net
