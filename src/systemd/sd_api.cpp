#include "systemd/sd_api.hpp"

#include "util/dynlib.hpp"

namespace pod::sd {

const SdApi& libsystemd() {
  return load_once<SdApi>("libsystemd.so.0", "systemd integration (libsystemd)", [](const DynLib& lib, SdApi& a) {
#define POD_DYNLIB_BIND(field, symbol) lib.bind(a.field, #symbol);
    POD_SD_FNS(POD_DYNLIB_BIND)
#undef POD_DYNLIB_BIND
  });
}

}  // namespace pod::sd
