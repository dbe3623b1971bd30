// gpgme's entry points that gpg.cpp uses, loaded on first use (util/dynlib.hpp).
#pragma once
#include <gpgme.h>

namespace pod::trust {

struct GpgmeApi {
  decltype(&::gpgme_check_version_internal) check_version_internal;
  decltype(&::gpgme_ctx_set_engine_info) ctx_set_engine_info;
  decltype(&::gpgme_data_identify) data_identify;
  decltype(&::gpgme_data_new) data_new;
  decltype(&::gpgme_data_new_from_fd) data_new_from_fd;
  decltype(&::gpgme_data_new_from_mem) data_new_from_mem;
  decltype(&::gpgme_data_release) data_release;
  decltype(&::gpgme_data_release_and_get_mem) data_release_and_get_mem;
  decltype(&::gpgme_engine_check_version) engine_check_version;
  decltype(&::gpgme_free) free;
  decltype(&::gpgme_get_key) get_key;
  decltype(&::gpgme_key_unref) key_unref;
  decltype(&::gpgme_new) new_context;
  decltype(&::gpgme_op_export) op_export;
  decltype(&::gpgme_op_import) op_import;
  decltype(&::gpgme_op_import_result) op_import_result;
  decltype(&::gpgme_op_keylist_end) op_keylist_end;
  decltype(&::gpgme_op_keylist_from_data_start) op_keylist_from_data_start;
  decltype(&::gpgme_op_keylist_next) op_keylist_next;
  decltype(&::gpgme_op_verify) op_verify;
  decltype(&::gpgme_op_verify_result) op_verify_result;
  decltype(&::gpgme_release) release;
  decltype(&::gpgme_set_armor) set_armor;
  decltype(&::gpgme_set_offline) set_offline;
  decltype(&::gpgme_set_pinentry_mode) set_pinentry_mode;
  decltype(&::gpgme_set_protocol) set_protocol;
  decltype(&::gpgme_strerror_r) strerror_r;
};

// libgpgme.so.11, loaded once; pod::Error when it is missing.
const GpgmeApi& gpgme();

}  // namespace pod::trust
