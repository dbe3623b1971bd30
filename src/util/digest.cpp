#include "util/digest.hpp"

#include <openssl/evp.h>
#include <unistd.h>

#include <cerrno>
#include <vector>

#include "util/error.hpp"

namespace pod {

struct Sha512::Ctx {
  EVP_MD_CTX* md = nullptr;
  ~Ctx() { EVP_MD_CTX_free(md); }
};

Sha512::Sha512() : ctx_(std::make_unique<Ctx>()) {
  ctx_->md = EVP_MD_CTX_new();
  if (!ctx_->md || EVP_DigestInit_ex(ctx_->md, EVP_sha512(), nullptr) != 1)
    throw Error("cannot initialise SHA-512 (OpenSSL)");
}
Sha512::~Sha512() = default;
Sha512::Sha512(Sha512&&) noexcept = default;
Sha512& Sha512::operator=(Sha512&&) noexcept = default;

void Sha512::update(const void* data, size_t n) {
  if (n && EVP_DigestUpdate(ctx_->md, data, n) != 1) throw Error("SHA-512 update failed (OpenSSL)");
}

std::string Sha512::hex_digest() {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_DigestFinal_ex(ctx_->md, out, &len) != 1) throw Error("SHA-512 final failed (OpenSSL)");
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

std::string sha512_fd_hex(int fd, const std::string& what) {
  Sha512 h;
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
  return h.hex_digest();
}

}  // namespace pod
