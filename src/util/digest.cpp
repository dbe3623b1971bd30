#include "util/digest.hpp"

#include <openssl/evp.h>
#include <unistd.h>

#include <cerrno>
#include <vector>

#include "util/error.hpp"

namespace pod {

namespace {
const char* alg_name(HashAlg a) { return a == HashAlg::Sha256 ? "SHA-256" : "SHA-512"; }
}  // namespace

struct Hasher::Ctx {
  EVP_MD_CTX* md = nullptr;
  ~Ctx() { EVP_MD_CTX_free(md); }
};

Hasher::Hasher(HashAlg alg) : ctx_(std::make_unique<Ctx>()), alg_(alg) {
  ctx_->md = EVP_MD_CTX_new();
  const EVP_MD* md = alg == HashAlg::Sha256 ? EVP_sha256() : EVP_sha512();
  if (!ctx_->md || EVP_DigestInit_ex(ctx_->md, md, nullptr) != 1)
    throw Error(std::string("cannot initialise ") + alg_name(alg) + " (OpenSSL)");
}
Hasher::~Hasher() = default;
Hasher::Hasher(Hasher&&) noexcept = default;
Hasher& Hasher::operator=(Hasher&&) noexcept = default;

void Hasher::update(const void* data, size_t n) {
  if (n && EVP_DigestUpdate(ctx_->md, data, n) != 1) throw Error(std::string(alg_name(alg_)) + " update failed (OpenSSL)");
}

std::string Hasher::hex_digest() {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_DigestFinal_ex(ctx_->md, out, &len) != 1) throw Error(std::string(alg_name(alg_)) + " final failed (OpenSSL)");
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
  std::vector<char> buf(1 << 20);
  for (;;) {
    ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      throw_sys("cannot read " + what);
    }
    if (n == 0) break;
    h.update(buf.data(), static_cast<size_t>(n));
  }
}

std::string hash_fd_hex(HashAlg alg, int fd, const std::string& what) {
  Hasher h(alg);
  hash_fd(h, fd, what);
  return h.hex_digest();
}

}  // namespace pod
