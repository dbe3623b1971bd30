#include "util/uuid.hpp"

#include <sys/random.h>

#include <cerrno>
#include <cstdio>

#include "util/error.hpp"

namespace pod {

std::string random_bytes(size_t n) {
  std::string b(n, '\0');
  size_t got = 0;
  while (got < n) {
    ssize_t r = ::getrandom(b.data() + got, n - got, 0);
    if (r < 0) {
      if (errno == EINTR) continue;
      throw_sys("getrandom");
    }
    got += static_cast<size_t>(r);
  }
  return b;
}

std::string random_hex(size_t n) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (unsigned char c : random_bytes(n)) {
    out += digits[c >> 4];
    out += digits[c & 15];
  }
  return out;
}

std::string new_uuid() {
  const std::string r = random_bytes(16);
  unsigned char b[16];
  for (size_t i = 0; i < 16; ++i) b[i] = static_cast<unsigned char>(r[i]);
  b[6] = static_cast<unsigned char>((b[6] & 0x0f) | 0x40);
  b[8] = static_cast<unsigned char>((b[8] & 0x3f) | 0x80);
  char out[37];
  std::snprintf(out, sizeof out, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
                b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
  return out;
}

bool is_canonical_uuid(const std::string& s) {
  if (s.size() != 36) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (s[i] != '-') return false;
    } else if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) {
      return false;
    }
  }
  return true;
}

}  // namespace pod
