// Streaming SHA-512 (OpenSSL EVP) and hex helpers.
#pragma once
#include <cstddef>
#include <memory>
#include <string>

namespace pod {

class Sha512 {
 public:
  Sha512();
  ~Sha512();
  Sha512(Sha512&&) noexcept;
  Sha512& operator=(Sha512&&) noexcept;
  void update(const void* data, size_t n);
  void update(const std::string& s) { update(s.data(), s.size()); }
  // Lowercase hex of the digest; the object can't be updated afterwards.
  std::string hex_digest();

 private:
  struct Ctx;
  std::unique_ptr<Ctx> ctx_;
};

std::string sha512_hex(const std::string& data);
// SHA-512 of a whole file read through fd (from its current offset).
std::string sha512_fd_hex(int fd, const std::string& what);

}  // namespace pod
