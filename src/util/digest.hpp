// Streaming SHA-256 and SHA-512 (OpenSSL EVP) and hex helpers.
#pragma once
#include <cstddef>
#include <memory>
#include <string>

namespace pod {

// One streaming hash over OpenSSL's EVP interface; Sha256 and Sha512 pick the algorithm.
class EvpHash {
 public:
  enum class Algo { Sha256, Sha512 };
  explicit EvpHash(Algo a);
  ~EvpHash();
  EvpHash(EvpHash&&) noexcept;
  EvpHash& operator=(EvpHash&&) noexcept;
  void update(const void* data, size_t n);
  void update(const std::string& s) { update(s.data(), s.size()); }
  // Lowercase hex of the digest; the object can't be updated afterwards.
  std::string hex_digest();

 private:
  struct Ctx;
  std::unique_ptr<Ctx> ctx_;
};

class Sha512 : public EvpHash {
 public:
  Sha512() : EvpHash(Algo::Sha512) {}
};

class Sha256 : public EvpHash {
 public:
  Sha256() : EvpHash(Algo::Sha256) {}
};

std::string sha512_hex(const std::string& data);
std::string sha256_hex(const std::string& data);
// SHA-512 of a whole file read through fd (from its current offset).
std::string sha512_fd_hex(int fd, const std::string& what);
// Feeds the bytes of fd from its current offset to its end into h.
void hash_fd(EvpHash& h, int fd, const std::string& what);

}  // namespace pod
