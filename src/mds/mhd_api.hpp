// libmicrohttpd's entry points that the metadata service uses, loaded on
// first use (util/dynlib.hpp): it pulls in GnuTLS and its libraries, which
// no other command should pay for at start.
#pragma once
#include <microhttpd.h>

namespace pod::mds {

struct MhdApi {
  decltype(&::MHD_add_response_header) add_response_header;
  decltype(&::MHD_create_post_processor) create_post_processor;
  decltype(&::MHD_create_response_from_buffer) create_response_from_buffer;
  decltype(&::MHD_destroy_post_processor) destroy_post_processor;
  decltype(&::MHD_destroy_response) destroy_response;
  decltype(&::MHD_get_connection_values) get_connection_values;
  decltype(&::MHD_post_process) post_process;
  decltype(&::MHD_queue_response) queue_response;
  decltype(&::MHD_start_daemon) start_daemon;
  decltype(&::MHD_stop_daemon) stop_daemon;
};

// libmicrohttpd.so.12, loaded once; pod::Error when it is missing.
const MhdApi& mhd();

}  // namespace pod::mds
