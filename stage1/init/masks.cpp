#include "masks.hpp"

#include <sys/mount.h>
#include <sys/stat.h>

#include <cerrno>

#include "util/error.hpp"

namespace pod::init {

const std::vector<std::string>& masked_paths() {
  static const std::vector<std::string> v = {
      "/proc/acpi",       "/proc/asound",     "/proc/interrupts", "/proc/kcore",       "/proc/keys",
      "/proc/latency_stats", "/proc/sched_debug", "/proc/scsi",    "/proc/timer_list",  "/proc/timer_stats",
      "/sys/firmware",    "/sys/devices/virtual/powercap", "/sys/kernel/debug", "/sys/kernel/security"};
  return v;
}

const std::vector<std::string>& read_only_paths() {
  static const std::vector<std::string> v = {"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger",
                                             "/sys"};
  return v;
}

void mask_paths(const std::string& root) {
  constexpr unsigned long kLocked = MS_NOSUID | MS_NODEV | MS_NOEXEC;
  for (const auto& p : read_only_paths()) {
    const std::string t = root + p;
    struct stat st;
    if (::lstat(t.c_str(), &st) < 0) continue;
    if (::mount(t.c_str(), t.c_str(), nullptr, MS_BIND | MS_REC, nullptr) < 0 ||
        ::mount(nullptr, t.c_str(), nullptr, MS_BIND | MS_REMOUNT | MS_RDONLY | kLocked, nullptr) < 0)
      throw_sys("cannot make " + p + " read-only in the app");
  }
  for (const auto& p : masked_paths()) {
    const std::string t = root + p;
    struct stat st;
    if (::lstat(t.c_str(), &st) < 0) continue;
    const int rc = S_ISDIR(st.st_mode)
                       ? ::mount("tmpfs", t.c_str(), "tmpfs", MS_RDONLY | kLocked, "size=0,mode=0555")
                       : ::mount("/dev/null", t.c_str(), nullptr, MS_BIND, nullptr);
    if (rc < 0) throw_sys("cannot mask " + p + " in the app");
  }
}

}  // namespace pod::init
