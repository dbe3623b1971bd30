// The signature check of a fetched ACI (Documentation/trust.md): the
// detached signature must be a good one by a key trusted for the image's name.
#pragma once
#include <pod/error.hpp>
#include <string>

#include "trust/keystore.hpp"

namespace pod::trust {

// Verify the signature in file `sig_path` over the whole of image_fd (read
// from offset 0) for image name `name`. `image` and `sig_name` name the image
// and its signature in messages (the file or URL the user gave). Returns the
// signer's fingerprint; throws Error(ErrorKind::Image) saying what is wrong and
// what to do: not signed, signed by a key not trusted for the name (with the
// `pod trust` command), tampered, expired or revoked key.
std::string verify_image(const KeyStore& keys, int image_fd, const std::string& sig_path, const std::string& image,
                         const std::string& sig_name, const std::string& name);

// "warning: image X was not signature-checked (--insecure-options=image)"
std::string unverified_warning(const std::string& image);
// "image X is not signed (no SIG); give --insecure-options=image …" (ErrorKind::Image)
Error not_signed_error(const std::string& image, const std::string& sig_name);

}  // namespace pod::trust
