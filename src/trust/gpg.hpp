// The OpenPGP side of image trust, over gpgme: reading a key file and
// checking a detached signature. pod parses no OpenPGP itself.
//
// Every operation runs gpg in a fresh private home (GpgHome: a 0700 temp dir,
// removed afterwards) holding only the keys passed in, with a gpg.conf that
// forbids network key lookups, the agent and a tty, and that makes the keys
// passed in (and only those) ultimately trusted (`trusted-key`): trust is
// what the key store says, nothing else.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace pod::trust {

struct KeyInfo {
  std::string fingerprint;          // 40 (or 64, v5) upper-case hex of the primary key
  std::vector<std::string> uids;
  int64_t expires = 0;              // seconds since the epoch; 0 = never
  bool expired = false, revoked = false;
};

struct PublicKey {
  KeyInfo info;
  std::string armored;              // the key as gpg exports it (ASCII armor, public parts only)
};

// `data` (armored or binary, named `what` in errors) must hold exactly one
// public key: none, several, or secret key material are Usage errors.
PublicKey read_public_key(const std::string& data, const std::string& what);
// The same checks, without the export: what `pod trust list` shows of a stored key.
KeyInfo read_key_info(const std::string& data, const std::string& what);

enum class SigStatus {
  Good,        // a valid signature by one of the keys
  UnknownKey,  // signed by a key not among them (fingerprint: the signer's, as the signature names it)
  Bad,         // the data does not match the signature
  KeyExpired,  // good, but the key had expired
  KeyRevoked,
  SigExpired,
  Invalid,     // no usable signature in the signature data (detail says why)
};

struct SigCheck {
  SigStatus status = SigStatus::Invalid;
  std::string fingerprint;  // the signer's primary key (Good) or what the signature names
  std::string detail;       // gpgme's words for a failure
};

// Check the detached `signature` (armored or binary) over the bytes of
// data_fd (read from its current offset to the end) against `keys` only.
SigCheck verify_detached(const std::vector<std::string>& keys, int data_fd, const std::string& signature);

}  // namespace pod::trust
