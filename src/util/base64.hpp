// Base64 (RFC 4648, with padding) over OpenSSL's EVP block coder.
#pragma once
#include <optional>
#include <string>

namespace pod {

std::string base64(const std::string& data);
// Strict: the length a multiple of 4, only the alphabet and padding; nullopt otherwise.
std::optional<std::string> unbase64(const std::string& s);

}  // namespace pod
