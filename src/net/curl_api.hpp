// libcurl's entry points that http.cpp uses, loaded on first use (util/dynlib.hpp).
#pragma once
#include <curl/curl.h>

namespace pod::net {

struct CurlApi {
  decltype(&::curl_global_init) global_init;
  decltype(&::curl_easy_init) easy_init;
  decltype(&::curl_easy_cleanup) easy_cleanup;
  decltype(&::curl_easy_setopt) easy_setopt;
  decltype(&::curl_easy_perform) easy_perform;
  decltype(&::curl_easy_getinfo) easy_getinfo;
  decltype(&::curl_easy_strerror) easy_strerror;
  decltype(&::curl_slist_append) slist_append;
  decltype(&::curl_slist_free_all) slist_free_all;
};

// libcurl.so.4, loaded once; pod::Error when it is missing.
const CurlApi& curl();

}  // namespace pod::net
