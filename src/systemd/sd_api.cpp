#include "systemd/sd_api.hpp"

#include "util/dynlib.hpp"

namespace pod::sd {

const SdApi& libsystemd() {
  static const SdApi api = [] {
    const DynLib lib = DynLib::open("libsystemd.so.0", "systemd integration (libsystemd)");
    SdApi a{};
    lib.bind(a.notify, "sd_notify");
    lib.bind(a.pid_notify, "sd_pid_notify");
    lib.bind(a.journal_send, "sd_journal_send");
    lib.bind(a.bus_open_system, "sd_bus_open_system");
    lib.bind(a.bus_flush_close_unref, "sd_bus_flush_close_unref");
    lib.bind(a.bus_message_unref, "sd_bus_message_unref");
    lib.bind(a.bus_error_free, "sd_bus_error_free");
    lib.bind(a.bus_message_new_method_call, "sd_bus_message_new_method_call");
    lib.bind(a.bus_message_append, "sd_bus_message_append");
    lib.bind(a.bus_message_append_array, "sd_bus_message_append_array");
    lib.bind(a.bus_call, "sd_bus_call");
    lib.bind(a.bus_call_method, "sd_bus_call_method");
    lib.bind(a.id128_from_string, "sd_id128_from_string");
    return a;
  }();
  return api;
}

}  // namespace pod::sd
