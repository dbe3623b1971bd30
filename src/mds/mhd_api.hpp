// libmicrohttpd's entry points that the metadata service uses, loaded on
// first use (util/dynlib.hpp): it pulls in GnuTLS and its libraries, which
// no other command should pay for at start.
#pragma once
#include <microhttpd.h>

namespace pod::mds {

#define POD_MHD_FNS(X) \
  X(add_response_header, MHD_add_response_header) X(create_post_processor, MHD_create_post_processor) \
  X(create_response_from_buffer, MHD_create_response_from_buffer) \
  X(destroy_post_processor, MHD_destroy_post_processor) X(destroy_response, MHD_destroy_response) \
  X(get_connection_values, MHD_get_connection_values) X(post_process, MHD_post_process) \
  X(queue_response, MHD_queue_response) X(start_daemon, MHD_start_daemon) \
  X(stop_daemon, MHD_stop_daemon)

struct MhdApi {
#define POD_DYNLIB_FIELD(field, symbol) decltype(&::symbol) field;
  POD_MHD_FNS(POD_DYNLIB_FIELD)
#undef POD_DYNLIB_FIELD
};

// libmicrohttpd.so.12, loaded once; pod::Error when it is missing.
const MhdApi& mhd();

}  // namespace pod::mds
