// libcurl's entry points that http.cpp uses, loaded on first use (util/dynlib.hpp).
#pragma once
#include <curl/curl.h>

namespace pod::net {

#define POD_CURL_FNS(X) \
  X(global_init, curl_global_init) X(easy_init, curl_easy_init) X(easy_cleanup, curl_easy_cleanup) \
  X(easy_setopt, curl_easy_setopt) X(easy_perform, curl_easy_perform) \
  X(easy_getinfo, curl_easy_getinfo) X(easy_strerror, curl_easy_strerror) \
  X(slist_append, curl_slist_append) X(slist_free_all, curl_slist_free_all)

struct CurlApi {
#define POD_DYNLIB_FIELD(field, symbol) decltype(&::symbol) field;
  POD_CURL_FNS(POD_DYNLIB_FIELD)
#undef POD_DYNLIB_FIELD
};

// libcurl.so.4, loaded once; pod::Error when it is missing.
const CurlApi& curl();

}  // namespace pod::net
