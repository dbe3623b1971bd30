#include "mds/mhd_api.hpp"

#include "util/dynlib.hpp"

namespace pod::mds {

const MhdApi& mhd() {
  return load_once<MhdApi>("libmicrohttpd.so.12", "the metadata service (libmicrohttpd)", [](const DynLib& lib, MhdApi& a) {
#define POD_DYNLIB_BIND(field, symbol) lib.bind(a.field, #symbol);
    POD_MHD_FNS(POD_DYNLIB_BIND)
#undef POD_DYNLIB_BIND
  });
}

}  // namespace pod::mds
