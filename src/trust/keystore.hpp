// Trusted OpenPGP keys for image names (Documentation/trust.md), in two
// stores of the same layout:
//
//   <root>/prefix.d/<image name prefix>/<FINGERPRINT>   armored public key, trusted for names under the prefix
//   <root>/root.d/<FINGERPRINT>                          trusted for every name
//
// system: $POD_TRUST_SYSTEM_DIR, else /etc/pod/trustedkeys (the admin's; pod
// only reads it); local: $DATA/trustedkeys (what `pod trust` writes).
// Fingerprints are upper-case hex and prefixes are AC identifiers (lower
// case), so a key file never collides with a prefix directory.
#pragma once
#include <string>
#include <vector>

namespace pod::trust {

struct PublicKey;

struct StoredKey {
  std::string fingerprint;
  std::string prefix;  // "" for a root key
  bool root = false;
  bool system = false;
  std::string path;    // the key file
};

// A key trusted for `prefix` applies to `name` when name is the prefix or
// continues it after a '/': "example.com" covers "example.com/app", not "example.co".
bool prefix_matches(const std::string& prefix, const std::string& name);
// An image name prefix as given to `pod trust --prefix`: an AC identifier (no
// "..", no leading or doubled "/"); trailing slashes are dropped. Usage error otherwise.
std::string validate_prefix(const std::string& prefix);
// 40 or 64 hex digits (any case, spaces allowed as gpg prints them) -> upper case; Usage error otherwise.
std::string normalize_fingerprint(const std::string& fp);

class KeyStore {
 public:
  KeyStore(std::string system_dir, std::string local_dir);
  // The system dir ($POD_TRUST_SYSTEM_DIR or /etc/pod/trustedkeys) and data_dir/trustedkeys.
  static KeyStore for_data_dir(const std::string& data_dir);
  const std::string& system_dir() const { return system_dir_; }
  const std::string& local_dir() const { return local_dir_; }

  // Trust `key` (locally) for `prefix` ("" with root). Atomic; replaces the same key for the same prefix.
  StoredKey add(const PublicKey& key, const std::string& prefix, bool root);
  // Every key of both stores: system first, then local; by prefix, then fingerprint.
  std::vector<StoredKey> list() const;
  // The keys trusted for image name `name`: root keys and those of every matching prefix.
  std::vector<StoredKey> keys_for(const std::string& name) const;
  // Remove a local key from every prefix (and root.d); returns what was removed (NotFound when nothing).
  std::vector<StoredKey> remove(const std::string& fingerprint);

 private:
  std::string system_dir_, local_dir_;
};

// The armored key of a stored key.
std::string read_key(const StoredKey& k);

}  // namespace pod::trust
