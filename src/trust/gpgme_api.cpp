#include "trust/gpgme_api.hpp"

#include "util/dynlib.hpp"

namespace pod::trust {

const GpgmeApi& gpgme() {
  static const GpgmeApi api = [] {
    const DynLib lib = DynLib::open("libgpgme.so.11", "image signatures (gpgme)");
    GpgmeApi a{};
    lib.bind(a.check_version_internal, "gpgme_check_version_internal");
    lib.bind(a.ctx_set_engine_info, "gpgme_ctx_set_engine_info");
    lib.bind(a.data_identify, "gpgme_data_identify");
    lib.bind(a.data_new, "gpgme_data_new");
    lib.bind(a.data_new_from_fd, "gpgme_data_new_from_fd");
    lib.bind(a.data_new_from_mem, "gpgme_data_new_from_mem");
    lib.bind(a.data_release, "gpgme_data_release");
    lib.bind(a.data_release_and_get_mem, "gpgme_data_release_and_get_mem");
    lib.bind(a.engine_check_version, "gpgme_engine_check_version");
    lib.bind(a.free, "gpgme_free");
    lib.bind(a.get_key, "gpgme_get_key");
    lib.bind(a.key_unref, "gpgme_key_unref");
    lib.bind(a.new_context, "gpgme_new");
    lib.bind(a.op_export, "gpgme_op_export");
    lib.bind(a.op_import, "gpgme_op_import");
    lib.bind(a.op_import_result, "gpgme_op_import_result");
    lib.bind(a.op_keylist_end, "gpgme_op_keylist_end");
    lib.bind(a.op_keylist_from_data_start, "gpgme_op_keylist_from_data_start");
    lib.bind(a.op_keylist_next, "gpgme_op_keylist_next");
    lib.bind(a.op_verify, "gpgme_op_verify");
    lib.bind(a.op_verify_result, "gpgme_op_verify_result");
    lib.bind(a.release, "gpgme_release");
    lib.bind(a.set_armor, "gpgme_set_armor");
    lib.bind(a.set_offline, "gpgme_set_offline");
    lib.bind(a.set_pinentry_mode, "gpgme_set_pinentry_mode");
    lib.bind(a.set_protocol, "gpgme_set_protocol");
    lib.bind(a.strerror_r, "gpgme_strerror_r");
    return a;
  }();
  return api;
}

}  // namespace pod::trust
