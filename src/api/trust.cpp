// The public API's image-trust calls over src/trust.
#include "api/impl.hpp"
#include "trust/gpg.hpp"
#include "trust/keystore.hpp"
#include "util/fs.hpp"

namespace pod {

namespace {

TrustedKey to_public(const trust::KeyInfo& i) {
  TrustedKey k;
  k.fingerprint = i.fingerprint;
  k.uids = i.uids;
  if (i.expires) k.expires = std::chrono::system_clock::from_time_t(static_cast<time_t>(i.expires));
  k.expired = i.expired;
  k.revoked = i.revoked;
  return k;
}

TrustedKey to_public(const trust::StoredKey& s, const trust::KeyInfo& i) {
  TrustedKey k = to_public(i);
  k.fingerprint = s.fingerprint;
  k.prefix = s.prefix;
  k.root = s.root;
  k.system = s.system;
  k.path = s.path;
  return k;
}

trust::PublicKey read_key(const std::string& file) {
  std::string data;
  try {
    data = read_file(file, 1 << 20);
  } catch (const Error& e) {
    if (e.errnum() == ENOENT) throw Error("key file " + file + " does not exist", ENOENT, ErrorKind::NotFound);
    throw;
  }
  return trust::read_public_key(data, file);
}

trust::KeyStore keystore(const Runtime& rt) { return trust::KeyStore::for_data_dir(rt.data_dir()); }

}  // namespace

TrustedKey Runtime::read_key_file(const std::string& file) {
  return api::guarded([&] { return to_public(read_key(file).info); });
}

TrustedKey Runtime::trust_key(const std::string& file, const std::string& prefix, bool root) {
  return api::guarded([&] {
    if (root == !prefix.empty()) throw usage_error("give either an image name prefix (--prefix=NAME) or --root");
    if (!root) trust::validate_prefix(prefix);
    const trust::PublicKey pk = read_key(file);
    trust::KeyStore ks = keystore(*this);
    return to_public(ks.add(pk, prefix, root), pk.info);
  });
}

std::vector<TrustedKey> Runtime::list_trusted_keys() const {
  return api::guarded([&] {
    std::vector<TrustedKey> out;
    for (const auto& s : keystore(*this).list())
      out.push_back(to_public(s, trust::read_key_info(trust::read_key(s), s.path)));
    return out;
  });
}

std::vector<TrustedKey> Runtime::untrust_key(const std::string& fingerprint) {
  return api::guarded([&] {
    trust::KeyStore ks = keystore(*this);
    std::vector<TrustedKey> out;
    for (const auto& s : ks.remove(fingerprint)) out.push_back(to_public(s, {}));  // the key file is gone
    return out;
  });
}

}  // namespace pod
