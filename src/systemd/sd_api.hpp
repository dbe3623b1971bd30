// libsystemd's entry points that pod uses (readiness, the journal, machined),
// loaded on first use (util/dynlib.hpp): a pod whose run never talks to
// systemd does not load it and the five libraries it pulls in.
#pragma once
#include <systemd/sd-bus.h>
#include <systemd/sd-daemon.h>
#include <systemd/sd-journal.h>

namespace pod::sd {

struct SdApi {
  decltype(&::sd_notify) notify;
  decltype(&::sd_pid_notify) pid_notify;
  decltype(&::sd_journal_send) journal_send;
  decltype(&::sd_bus_open_system) bus_open_system;
  decltype(&::sd_bus_flush_close_unref) bus_flush_close_unref;
  decltype(&::sd_bus_message_unref) bus_message_unref;
  decltype(&::sd_bus_error_free) bus_error_free;
  decltype(&::sd_bus_message_new_method_call) bus_message_new_method_call;
  decltype(&::sd_bus_message_append) bus_message_append;
  decltype(&::sd_bus_message_append_array) bus_message_append_array;
  decltype(&::sd_bus_call) bus_call;
  decltype(&::sd_bus_call_method) bus_call_method;
  decltype(&::sd_id128_from_string) id128_from_string;
};

// libsystemd.so.0, loaded once; pod::Error when it is missing.
const SdApi& libsystemd();

}  // namespace pod::sd
