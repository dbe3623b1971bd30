#include "trust/verify.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <ctime>

#include "trust/gpg.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"

namespace pod::trust {

namespace {
Error image_error(const std::string& msg) { return Error(msg, 0, ErrorKind::Image); }
}  // namespace

std::string unverified_warning(const std::string& image) {
  return "warning: image " + image + " was not signature-checked (--insecure-options=image)";
}

Error not_signed_error(const std::string& image, const std::string& sig_name) {
  return image_error("image " + image + " is not signed (no " + sig_name +
                     "); give --insecure-options=image to fetch it without a signature");
}

std::string verify_image(const KeyStore& keys, int image_fd, const std::string& sig_path, const std::string& image,
                         const std::string& sig_name, const std::string& name) {
  int sfd = ::open(sig_path.c_str(), O_RDONLY | O_CLOEXEC);
  if (sfd < 0) {
    if (errno == ENOENT) throw not_signed_error(image, sig_name);
    throw_sys("cannot open the signature " + sig_name);
  }
  UniqueFd sig(sfd);
  const std::string signature = read_fd(sig.get(), sig_name, 1 << 20);
  std::vector<std::string> armored;
  for (const auto& k : keys.keys_for(name)) armored.push_back(read_key(k));
  if (::lseek(image_fd, 0, SEEK_SET) < 0) throw_sys("cannot rewind " + image);
  const SigCheck c = verify_detached(armored, image_fd, signature);
  const std::string hint = "pod trust --prefix=" + name + " KEY.asc";
  switch (c.status) {
    case SigStatus::Good: return c.fingerprint;
    case SigStatus::UnknownKey: {
      std::string elsewhere;  // the prefixes it is trusted for, when that is the mistake
      for (const auto& k : keys.list())
        if (k.fingerprint == c.fingerprint) elsewhere += (elsewhere.empty() ? "" : ", ") + k.prefix;
      throw image_error("image " + image + " (" + name + ") is signed by key " + c.fingerprint +
                        ", which is not trusted for " + name +
                        (elsewhere.empty() ? "" : " (only for " + elsewhere + ")") +
                        "; if you trust that key, get it from the image's publisher and run: " + hint);
    }
    case SigStatus::Bad: throw image_error("signature of " + image + " does not match (tampered image?)");
    case SigStatus::KeyExpired:
      throw image_error("image " + image + " is signed by key " + c.fingerprint + ", which has expired");
    case SigStatus::KeyRevoked:
      throw image_error("image " + image + " is signed by key " + c.fingerprint + ", which has been revoked");
    case SigStatus::SigExpired: throw image_error("the signature " + sig_name + " of " + image + " has expired");
    case SigStatus::Invalid: break;
  }
  throw image_error(sig_name + " is not a usable signature of " + image + ": " + c.detail);
}

}  // namespace pod::trust
