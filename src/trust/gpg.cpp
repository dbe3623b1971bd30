#include "trust/gpg.hpp"

#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <memory>
#include <mutex>

#include "trust/gpgme_api.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"

namespace pod::trust {

namespace {

std::string gpg_text(gpgme_error_t err) {
  char buf[256];
  gpgme().strerror_r(err, buf, sizeof buf);
  return buf;
}

void check(gpgme_error_t err, const std::string& what) {
  if (err) throw Error(what + ": " + gpg_text(err), 0, ErrorKind::Image);
}

// A private gpg home: a 0700 dir under $TMPDIR (or /tmp), removed with everything in it.
class GpgHome {
 public:
  GpgHome() {
    const char* t = std::getenv("TMPDIR");
    const std::string parent = t && *t ? t : "/tmp";
    parent_ = open_dir(parent);
    std::string tmpl = parent + "/pod-gpg-XXXXXX";
    if (!::mkdtemp(tmpl.data())) throw_sys("cannot create a temporary gpg home in " + parent);
    path_ = tmpl;
    try {
      write_conf({});
    } catch (const Error&) {
      remove();
      throw;
    }
  }
  // Nothing from the network, no agent, no tty. The keys in `trusted` (fingerprints) are ultimately
  // trusted: the key store's decision is the only trust there is.
  void write_conf(const std::vector<std::string>& trusted) const {
    std::string conf = "no-tty\nbatch\nno-autostart\nno-auto-key-retrieve\nno-auto-key-locate\n";
    for (const auto& fpr : trusted) conf += "trusted-key " + fpr + "\n";
    write_file_atomic_at(open_dir(path_).get(), "gpg.conf", conf, 0600, Durability::kVolatile);
  }
  ~GpgHome() { remove(); }
  GpgHome(const GpgHome&) = delete;
  GpgHome& operator=(const GpgHome&) = delete;
  const std::string& path() const { return path_; }

 private:
  void remove() noexcept {
    try {
      remove_tree_at(parent_.get(), path_.substr(path_.rfind('/') + 1));
    } catch (...) {
      // A temp dir left behind is not worth failing the fetch for (nor may a destructor throw).
    }
  }
  std::string path_;
  UniqueFd parent_;
};

struct CtxDeleter {
  void operator()(gpgme_ctx_t c) const { gpgme().release(c); }
};
using Ctx = std::unique_ptr<std::remove_pointer_t<gpgme_ctx_t>, CtxDeleter>;
struct DataDeleter {
  void operator()(gpgme_data_t d) const { gpgme().data_release(d); }
};
using Data = std::unique_ptr<std::remove_pointer_t<gpgme_data_t>, DataDeleter>;
struct KeyDeleter {
  void operator()(gpgme_key_t k) const { gpgme().key_unref(k); }
};
using Key = std::unique_ptr<std::remove_pointer_t<gpgme_key_t>, KeyDeleter>;

Ctx new_ctx(const GpgHome& home) {
  static std::once_flag once;
  std::call_once(once, [] {
    gpgme().check_version_internal(nullptr, offsetof(struct _gpgme_signature, validity));  // gpgme_check_version()
  });
  check(gpgme().engine_check_version(GPGME_PROTOCOL_OpenPGP), "gpg (GnuPG) is not usable");
  gpgme_ctx_t c = nullptr;
  check(gpgme().new_context(&c), "cannot start gpgme");
  Ctx ctx(c);
  check(gpgme().set_protocol(c, GPGME_PROTOCOL_OpenPGP), "gpgme");
  check(gpgme().ctx_set_engine_info(c, GPGME_PROTOCOL_OpenPGP, nullptr, home.path().c_str()), "gpgme home");
  check(gpgme().set_pinentry_mode(c, GPGME_PINENTRY_MODE_CANCEL), "gpgme");
  gpgme().set_armor(c, 1);
  gpgme().set_offline(c, 1);
  return ctx;
}

Data mem_data(const std::string& s) {
  gpgme_data_t d = nullptr;
  check(gpgme().data_new_from_mem(&d, s.data(), s.size(), 1), "gpgme");
  return Data(d);
}

Data empty_data() {
  gpgme_data_t d = nullptr;
  check(gpgme().data_new(&d), "gpgme");
  return Data(d);
}

std::string release_to_string(Data d) {
  size_t n = 0;
  char* p = gpgme().data_release_and_get_mem(d.release(), &n);
  std::string s(p ? p : "", p ? n : 0);
  gpgme().free(p);
  return s;
}

// Returns the fingerprints imported.
std::vector<std::string> import_keys(gpgme_ctx_t ctx, const std::vector<std::string>& keys) {
  std::vector<std::string> fprs;
  for (const auto& k : keys) {
    Data d = mem_data(k);
    check(gpgme().op_import(ctx, d.get()), "cannot import a trusted key");
    if (gpgme_import_result_t r = gpgme().op_import_result(ctx))
      for (auto* i = r->imports; i; i = i->next)
        if (i->fpr && !i->result) fprs.push_back(i->fpr);
  }
  return fprs;
}

KeyInfo info_of(gpgme_key_t k) {
  KeyInfo i;
  if (k->subkeys && k->subkeys->fpr) i.fingerprint = k->subkeys->fpr;
  for (auto* u = k->uids; u; u = u->next)
    if (u->uid) i.uids.push_back(u->uid);
  if (k->subkeys) i.expires = k->subkeys->expires;
  i.expired = k->expired;
  i.revoked = k->revoked;
  return i;
}

// The keys in `data`, as gpg lists them without importing (--import-options show-only).
std::vector<Key> list_keys_in(gpgme_ctx_t ctx, const std::string& data, const std::string& what) {
  Data d = mem_data(data);
  check(gpgme().op_keylist_from_data_start(ctx, d.get(), 0), "cannot read " + what);
  std::vector<Key> keys;
  for (;;) {
    gpgme_key_t k = nullptr;
    gpgme_error_t err = gpgme().op_keylist_next(ctx, &k);
    if (gpgme_err_code(err) == GPG_ERR_EOF) break;
    check(err, "cannot read " + what);
    keys.emplace_back(k);
  }
  gpgme().op_keylist_end(ctx);
  return keys;
}

constexpr const char* kExportHint = "export the public key only (gpg --armor --export FINGERPRINT)";

// The one public key in `data`, read without importing it.
KeyInfo only_key(gpgme_ctx_t ctx, const std::string& data, const std::string& what) {
  {
    Data d = mem_data(data);
    const gpgme_data_type_t t = gpgme().data_identify(d.get(), 0);
    if (t != GPGME_DATA_TYPE_PGP_KEY)
      throw usage_error(what + " holds no OpenPGP public key" +
                        (t == GPGME_DATA_TYPE_PGP_SIGNATURE ? " (it is a signature)" : ""));
  }
  auto keys = list_keys_in(ctx, data, what);
  if (keys.empty()) throw usage_error(what + " holds no OpenPGP public key");
  if (keys.size() > 1)
    throw usage_error(what + " holds " + std::to_string(keys.size()) +
                      " keys; give one key per file (pod trust takes one at a time)");
  if (keys[0]->secret) throw usage_error(what + " holds a secret key; " + kExportHint);
  return info_of(keys[0].get());
}

}  // namespace

KeyInfo read_key_info(const std::string& data, const std::string& what) {
  GpgHome home;
  Ctx ctx = new_ctx(home);
  return only_key(ctx.get(), data, what);
}

PublicKey read_public_key(const std::string& data, const std::string& what) {
  GpgHome home;
  Ctx ctx = new_ctx(home);
  PublicKey pk;
  pk.info = only_key(ctx.get(), data, what);
  // Canonical form: import into the private home and export it armored.
  import_keys(ctx.get(), {data});
  if (gpgme_import_result_t r = gpgme().op_import_result(ctx.get()); r && r->secret_read > 0)
    throw usage_error(what + " holds a secret key; " + kExportHint);
  Data out = empty_data();
  check(gpgme().op_export(ctx.get(), pk.info.fingerprint.c_str(), 0, out.get()), "cannot export " + pk.info.fingerprint);
  pk.armored = release_to_string(std::move(out));
  if (pk.armored.empty()) throw usage_error(what + ": gpg could not read the key " + pk.info.fingerprint);
  return pk;
}

SigCheck verify_detached(const std::vector<std::string>& keys, int data_fd, const std::string& signature) {
  GpgHome home;
  Ctx ctx = new_ctx(home);
  home.write_conf(import_keys(ctx.get(), keys));
  Data sig = mem_data(signature);
  gpgme_data_t signed_data = nullptr;
  check(gpgme().data_new_from_fd(&signed_data, data_fd), "gpgme");
  Data signed_holder(signed_data);
  SigCheck out;
  gpgme_error_t err = gpgme().op_verify(ctx.get(), sig.get(), signed_data, nullptr);
  gpgme_verify_result_t r = gpgme().op_verify_result(ctx.get());
  if (err || !r || !r->signatures) {
    out.detail = err ? gpg_text(err) : "no signature found";
    return out;
  }
  // One signature per file is what `gpg --detach-sign` makes; any good one by a trusted key counts.
  SigCheck first;
  for (gpgme_signature_t s = r->signatures; s; s = s->next) {
    SigCheck c;
    c.fingerprint = s->fpr ? s->fpr : "";
    c.detail = gpg_text(s->status);
    switch (gpgme_err_code(s->status)) {
      case GPG_ERR_NO_ERROR: c.status = SigStatus::Good; break;
      case GPG_ERR_NO_PUBKEY: c.status = SigStatus::UnknownKey; break;
      case GPG_ERR_BAD_SIGNATURE: c.status = SigStatus::Bad; break;
      case GPG_ERR_KEY_EXPIRED: c.status = SigStatus::KeyExpired; break;
      case GPG_ERR_CERT_REVOKED: c.status = SigStatus::KeyRevoked; break;
      case GPG_ERR_SIG_EXPIRED: c.status = SigStatus::SigExpired; break;
      default: c.status = SigStatus::Invalid; break;
    }
    if (c.status == SigStatus::Good) {
      if (s->summary & (GPGME_SIGSUM_KEY_EXPIRED)) c.status = SigStatus::KeyExpired;
      else if (s->summary & GPGME_SIGSUM_KEY_REVOKED) c.status = SigStatus::KeyRevoked;
      else if (s->summary & GPGME_SIGSUM_SIG_EXPIRED) c.status = SigStatus::SigExpired;
      else if (!(s->summary & (GPGME_SIGSUM_VALID | GPGME_SIGSUM_GREEN))) c.status = SigStatus::Invalid;
    }
    if (c.status == SigStatus::Good) {
      // The signing (sub)key's primary key is what the store holds.
      gpgme_key_t k = nullptr;
      if (gpgme().get_key(ctx.get(), c.fingerprint.c_str(), &k, 0) != 0 || !k) {
        c.status = SigStatus::UnknownKey;
      } else {
        Key key(k);
        c.fingerprint = info_of(k).fingerprint;
        return c;
      }
    }
    if (s == r->signatures) first = c;
  }
  return first;
}

}  // namespace pod::trust
