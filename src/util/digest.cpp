#include "util/digest.hpp"

// OpenSSL's one-shot SHA-2 functions, not EVP: the first EVP digest sets up
// OpenSSL 3's providers (the configuration file, the name maps), ~2 ms of
// CPU that every `pod` command hashing one manifest paid (performance.md).
// They are deprecated in OpenSSL 3 but kept, and compute the same digests.
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/sha.h>
#include <unistd.h>

#include <cerrno>
#include <vector>

#include "util/error.hpp"
#include "util/fs.hpp"

namespace pod {

namespace {
const char* alg_name(HashAlg a) { return a == HashAlg::Sha256 ? "SHA-256" : "SHA-512"; }
}  // namespace

struct Hasher::Ctx {
  SHA256_CTX s256;
  SHA512_CTX s512;
};

Hasher::Hasher(HashAlg alg) : ctx_(std::make_unique<Ctx>()), alg_(alg) {
  if ((alg == HashAlg::Sha256 ? SHA256_Init(&ctx_->s256) : SHA512_Init(&ctx_->s512)) != 1)
    throw Error(std::string("cannot initialise ") + alg_name(alg) + " (OpenSSL)");
}
Hasher::~Hasher() = default;
Hasher::Hasher(Hasher&&) noexcept = default;
Hasher& Hasher::operator=(Hasher&&) noexcept = default;

void Hasher::update(const void* data, size_t n) {
  if (n && (alg_ == HashAlg::Sha256 ? SHA256_Update(&ctx_->s256, data, n) : SHA512_Update(&ctx_->s512, data, n)) != 1)
    throw Error(std::string(alg_name(alg_)) + " update failed (OpenSSL)");
}

std::string Hasher::hex_digest() {
  unsigned char out[SHA512_DIGEST_LENGTH];
  const unsigned len = alg_ == HashAlg::Sha256 ? SHA256_DIGEST_LENGTH : SHA512_DIGEST_LENGTH;
  if ((alg_ == HashAlg::Sha256 ? SHA256_Final(out, &ctx_->s256) : SHA512_Final(out, &ctx_->s512)) != 1)
    throw Error(std::string(alg_name(alg_)) + " final failed (OpenSSL)");
  static const char* hex = "0123456789abcdef";
  std::string s;
  s.reserve(len * 2);
  for (unsigned i = 0; i < len; ++i) {
    s += hex[out[i] >> 4];
    s += hex[out[i] & 15];
  }
  return s;
}

std::string hash_hex(HashAlg alg, const std::string& data) {
  Hasher h(alg);
  h.update(data);
  return h.hex_digest();
}

void hash_fd(Hasher& h, int fd, const std::string& what) {
  for_each_chunk(fd, what, [&](const char* p, size_t n) { h.update(p, n); });
}

std::string hash_fd_hex(HashAlg alg, int fd, const std::string& what) {
  Hasher h(alg);
  hash_fd(h, fd, what);
  return h.hex_digest();
}

}  // namespace pod
