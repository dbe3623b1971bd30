// gpgme's entry points that gpg.cpp uses, loaded on first use (util/dynlib.hpp).
#pragma once
#include <gpgme.h>

namespace pod::trust {

#define POD_GPGME_FNS(X) \
  X(check_version_internal, gpgme_check_version_internal) \
  X(ctx_set_engine_info, gpgme_ctx_set_engine_info) X(data_identify, gpgme_data_identify) \
  X(data_new, gpgme_data_new) X(data_new_from_fd, gpgme_data_new_from_fd) \
  X(data_new_from_mem, gpgme_data_new_from_mem) X(data_release, gpgme_data_release) \
  X(data_release_and_get_mem, gpgme_data_release_and_get_mem) \
  X(engine_check_version, gpgme_engine_check_version) X(free, gpgme_free) X(get_key, gpgme_get_key) \
  X(key_unref, gpgme_key_unref) X(new_context, gpgme_new) X(op_export, gpgme_op_export) \
  X(op_import, gpgme_op_import) X(op_import_result, gpgme_op_import_result) \
  X(op_keylist_end, gpgme_op_keylist_end) \
  X(op_keylist_from_data_start, gpgme_op_keylist_from_data_start) \
  X(op_keylist_next, gpgme_op_keylist_next) X(op_verify, gpgme_op_verify) \
  X(op_verify_result, gpgme_op_verify_result) X(release, gpgme_release) X(set_armor, gpgme_set_armor) \
  X(set_offline, gpgme_set_offline) X(set_pinentry_mode, gpgme_set_pinentry_mode) \
  X(set_protocol, gpgme_set_protocol) X(strerror_r, gpgme_strerror_r)

struct GpgmeApi {
#define POD_DYNLIB_FIELD(field, symbol) decltype(&::symbol) field;
  POD_GPGME_FNS(POD_DYNLIB_FIELD)
#undef POD_DYNLIB_FIELD
};

// libgpgme.so.11, loaded once; pod::Error when it is missing.
const GpgmeApi& gpgme();

}  // namespace pod::trust
