// Registering a pod with systemd-machined (org.freedesktop.machine1), so that
// `machinectl list` shows it and its processes are grouped. Only when booted():
// without systemd these are no-ops that never fail.
#pragma once
#include <sys/types.h>

#include <string>

namespace pod::sd {

// The machine name of a pod: "pod-" + the UUID without dashes (a valid
// hostname label, <= 64 characters, as machined requires).
std::string machine_name(const std::string& pod_uuid);

struct MachineRegistration {
  std::string pod_uuid;    // canonical UUID; also the machine id
  pid_t leader = 0;        // the pod's init (nspawn) or VMM (kvm)
  std::string root_directory;  // "" for a VM
  std::string klass = "container";  // "container" or "vm"
  std::string service = "pod";
};

// RegisterMachine on the system bus. Returns true when registered; false
// when systemd is not booted. Throws pod::Error when booted but machined
// refuses (the caller decides whether that is fatal; stage1s log it).
bool register_machine(const MachineRegistration& m);

// TerminateMachine; false when not booted or not registered (never throws).
bool terminate_machine(const std::string& pod_uuid);

}  // namespace pod::sd
