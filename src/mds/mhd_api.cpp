#include "mds/mhd_api.hpp"

#include "util/dynlib.hpp"

namespace pod::mds {

const MhdApi& mhd() {
  static const MhdApi api = [] {
    const DynLib lib = DynLib::open("libmicrohttpd.so.12", "the metadata service (libmicrohttpd)");
    MhdApi a{};
    lib.bind(a.add_response_header, "MHD_add_response_header");
    lib.bind(a.create_post_processor, "MHD_create_post_processor");
    lib.bind(a.create_response_from_buffer, "MHD_create_response_from_buffer");
    lib.bind(a.destroy_post_processor, "MHD_destroy_post_processor");
    lib.bind(a.destroy_response, "MHD_destroy_response");
    lib.bind(a.get_connection_values, "MHD_get_connection_values");
    lib.bind(a.post_process, "MHD_post_process");
    lib.bind(a.queue_response, "MHD_queue_response");
    lib.bind(a.start_daemon, "MHD_start_daemon");
    lib.bind(a.stop_daemon, "MHD_stop_daemon");
    return a;
  }();
  return api;
}

}  // namespace pod::mds
