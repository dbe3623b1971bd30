// libsystemd's entry points that pod uses (readiness, the journal, machined),
// loaded on first use (util/dynlib.hpp): a pod whose run never talks to
// systemd does not load it and the five libraries it pulls in.
#pragma once
#include <systemd/sd-bus.h>
#include <systemd/sd-daemon.h>
#include <systemd/sd-journal.h>

namespace pod::sd {

#define POD_SD_FNS(X) \
  X(notify, sd_notify) X(pid_notify, sd_pid_notify) X(journal_send, sd_journal_send) \
  X(bus_open_system, sd_bus_open_system) X(bus_flush_close_unref, sd_bus_flush_close_unref) \
  X(bus_message_unref, sd_bus_message_unref) X(bus_error_free, sd_bus_error_free) \
  X(bus_message_new_method_call, sd_bus_message_new_method_call) \
  X(bus_message_append, sd_bus_message_append) \
  X(bus_message_append_array, sd_bus_message_append_array) X(bus_call, sd_bus_call) \
  X(bus_call_method, sd_bus_call_method) X(id128_from_string, sd_id128_from_string)

struct SdApi {
#define POD_DYNLIB_FIELD(field, symbol) decltype(&::symbol) field;
  POD_SD_FNS(POD_DYNLIB_FIELD)
#undef POD_DYNLIB_FIELD
};

// libsystemd.so.0, loaded once; pod::Error when it is missing.
const SdApi& libsystemd();

}  // namespace pod::sd
