#include "systemd/machine.hpp"
#include "systemd/sd_api.hpp"

#include <systemd/sd-id128.h>

#include <cerrno>
#include <cstring>

#include "systemd/sd.hpp"
#include "util/error.hpp"

namespace pod::sd {

namespace {
constexpr const char* kDest = "org.freedesktop.machine1";
constexpr const char* kPath = "/org/freedesktop/machine1";
constexpr const char* kIface = "org.freedesktop.machine1.Manager";

struct Bus {
  sd_bus* bus = nullptr;
  ~Bus() { libsystemd().bus_flush_close_unref(bus); }
};
struct Msg {
  sd_bus_message* m = nullptr;
  ~Msg() { libsystemd().bus_message_unref(m); }
};
struct BusError {
  sd_bus_error e = SD_BUS_ERROR_NULL;
  ~BusError() { libsystemd().bus_error_free(&e); }
  std::string text(int r) const { return e.message ? e.message : std::strerror(-r); }
};
}  // namespace

std::string machine_name(const std::string& pod_uuid) {
  std::string n = "pod-";
  for (char c : pod_uuid)
    if (c != '-') n += c;
  return n;
}

bool register_machine(const MachineRegistration& m) {
  if (!booted()) return false;
  sd_id128_t id;
  int r = libsystemd().id128_from_string(m.pod_uuid.c_str(), &id);
  if (r < 0) throw Error("cannot register pod with machined: bad UUID " + m.pod_uuid, -r);
  Bus b;
  if ((r = libsystemd().bus_open_system(&b.bus)) < 0) throw_errno(-r, "cannot connect to the system bus");
  Msg call;
  if ((r = libsystemd().bus_message_new_method_call(b.bus, &call.m, kDest, kPath, kIface, "RegisterMachine")) < 0 ||
      (r = libsystemd().bus_message_append(call.m, "s", machine_name(m.pod_uuid).c_str())) < 0 ||
      (r = libsystemd().bus_message_append_array(call.m, 'y', id.bytes, sizeof(id.bytes))) < 0 ||
      (r = libsystemd().bus_message_append(call.m, "ssus", m.service.c_str(), m.klass.c_str(),
                                 static_cast<uint32_t>(m.leader), m.root_directory.c_str())) < 0)
    throw_errno(-r, "cannot build the machined RegisterMachine call");
  BusError err;
  Msg reply;
  if ((r = libsystemd().bus_call(b.bus, call.m, 0, &err.e, &reply.m)) < 0)
    throw Error("machined refused to register pod " + m.pod_uuid + ": " + err.text(r), -r);
  return true;
}

bool terminate_machine(const std::string& pod_uuid) {
  if (!booted()) return false;
  Bus b;
  if (libsystemd().bus_open_system(&b.bus) < 0) return false;
  BusError err;
  Msg reply;
  int r = libsystemd().bus_call_method(b.bus, kDest, kPath, kIface, "TerminateMachine", &err.e, &reply.m, "s",
                             machine_name(pod_uuid).c_str());
  return r >= 0;
}

}  // namespace pod::sd
