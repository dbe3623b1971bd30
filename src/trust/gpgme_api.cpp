#include "trust/gpgme_api.hpp"

#include "util/dynlib.hpp"

namespace pod::trust {

const GpgmeApi& gpgme() {
  return load_once<GpgmeApi>("libgpgme.so.11", "image signatures (gpgme)", [](const DynLib& lib, GpgmeApi& a) {
#define POD_DYNLIB_BIND(field, symbol) lib.bind(a.field, #symbol);
    POD_GPGME_FNS(POD_DYNLIB_BIND)
#undef POD_DYNLIB_BIND
  });
}

}  // namespace pod::trust
