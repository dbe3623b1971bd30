// Streaming SHA-256 / SHA-512 (OpenSSL EVP) and hex helpers.
#pragma once
#include <cstddef>
#include <memory>
#include <string>

namespace pod {

enum class HashAlg { Sha256, Sha512 };

class Hasher {
 public:
  explicit Hasher(HashAlg alg);
  ~Hasher();
  Hasher(Hasher&&) noexcept;
  Hasher& operator=(Hasher&&) noexcept;
  void update(const void* data, size_t n);
  void update(const std::string& s) { update(s.data(), s.size()); }
  // Lowercase hex of the digest; the object can't be updated afterwards.
  std::string hex_digest();
  HashAlg alg() const { return alg_; }

 private:
  struct Ctx;
  std::unique_ptr<Ctx> ctx_;
  HashAlg alg_;
};

class Sha512 : public Hasher {
 public:
  Sha512() : Hasher(HashAlg::Sha512) {}
};
class Sha256 : public Hasher {
 public:
  Sha256() : Hasher(HashAlg::Sha256) {}
};

std::string hash_hex(HashAlg alg, const std::string& data);
// Feeds the bytes of fd from its current offset to its end into h.
void hash_fd(Hasher& h, int fd, const std::string& what);
// The digest of a whole file read through fd (from its current offset).
std::string hash_fd_hex(HashAlg alg, int fd, const std::string& what);

inline std::string sha512_hex(const std::string& data) { return hash_hex(HashAlg::Sha512, data); }
inline std::string sha256_hex(const std::string& data) { return hash_hex(HashAlg::Sha256, data); }
inline std::string sha512_fd_hex(int fd, const std::string& what) { return hash_fd_hex(HashAlg::Sha512, fd, what); }
inline std::string sha256_fd_hex(int fd, const std::string& what) { return hash_fd_hex(HashAlg::Sha256, fd, what); }

}  // namespace pod
