#include "util/digest.hpp"

#include <openssl/evp.h>
#include <unistd.h>

#include <cerrno>
#include <vector>

#include "util/error.hpp"

namespace pod {

struct EvpHash::Ctx {
  EVP_MD_CTX* md = nullptr;
  const char* name = "";
  ~Ctx() { EVP_MD_CTX_free(md); }
};

EvpHash::EvpHash(Algo a) : ctx_(std::make_unique<Ctx>()) {
  ctx_->name = a == Algo::Sha256 ? "SHA-256" : "SHA-512";
  ctx_->md = EVP_MD_CTX_new();
  if (!ctx_->md || EVP_DigestInit_ex(ctx_->md, a == Algo::Sha256 ? EVP_sha256() : EVP_sha512(), nullptr) != 1)
    throw Error(std::string("cannot initialise ") + ctx_->name + " (OpenSSL)");
}
EvpHash::~EvpHash() = default;
EvpHash::EvpHash(EvpHash&&) noexcept = default;
EvpHash& EvpHash::operator=(EvpHash&&) noexcept = default;

void EvpHash::update(const void* data, size_t n) {
  if (n && EVP_DigestUpdate(ctx_->md, data, n) != 1) throw Error(std::string(ctx_->name) + " update failed (OpenSSL)");
}

std::string EvpHash::hex_digest() {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_DigestFinal_ex(ctx_->md, out, &len) != 1) throw Error(std::string(ctx_->name) + " final failed (OpenSSL)");
  static const char* hex = "0123456789abcdef";
  std::string s;
  s.reserve(len * 2);
  for (unsigned i = 0; i < len; ++i) {
    s += hex[out[i] >> 4];
    s += hex[out[i] & 15];
  }
  return s;
}

std::string sha512_hex(const std::string& data) {
  Sha512 h;
  h.update(data);
  return h.hex_digest();
}

std::string sha256_hex(const std::string& data) {
  Sha256 h;
  h.update(data);
  return h.hex_digest();
}

void hash_fd(EvpHash& h, int fd, const std::string& what) {
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

std::string sha512_fd_hex(int fd, const std::string& what) {
  Sha512 h;
  hash_fd(h, fd, what);
  return h.hex_digest();
}

}  // namespace pod
