#include "util/base64.hpp"

#include <openssl/evp.h>

namespace pod {

std::string base64(const std::string& data) {
  std::string out(4 * ((data.size() + 2) / 3) + 1, '\0');
  int len = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                            reinterpret_cast<const unsigned char*>(data.data()), static_cast<int>(data.size()));
  out.resize(static_cast<size_t>(len));
  return out;
}

std::optional<std::string> unbase64(const std::string& s) {
  if (s.empty() || s.size() % 4 != 0) return std::nullopt;
  std::string out(s.size() / 4 * 3, '\0');
  int len = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                            reinterpret_cast<const unsigned char*>(s.data()), static_cast<int>(s.size()));
  if (len < 0) return std::nullopt;
  size_t pad = s.size() - s.find_last_not_of('=') - 1;  // EVP_DecodeBlock counts padding as zero bytes
  out.resize(static_cast<size_t>(len) - pad);
  return out;
}

}  // namespace pod
