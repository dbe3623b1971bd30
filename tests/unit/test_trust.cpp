// The trusted-key store's rules: prefix matching, prefix and fingerprint
// validation, the on-disk layout (no gpg needed: list/keys_for/remove never parse keys).
#include <doctest/doctest.h>
#include <fcntl.h>
#include <sys/stat.h>

#include "helpers.hpp"
#include "trust/gpg.hpp"
#include "trust/keystore.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"

using namespace pod;
using podtest::TempDir;

namespace {
const std::string kFp1 = "0123456789ABCDEF0123456789ABCDEF01234567";
const std::string kFp2 = "89ABCDEF0123456789ABCDEF0123456789ABCDEF";

trust::PublicKey fake_key(const std::string& fp) {
  trust::PublicKey k;
  k.info.fingerprint = fp;
  k.armored = "key " + fp + "\n";
  return k;
}

std::vector<std::string> describe(const std::vector<trust::StoredKey>& keys) {
  std::vector<std::string> out;
  for (const auto& k : keys)
    out.push_back((k.system ? "system " : "local ") + (k.root ? std::string("root") : k.prefix) + " " +
                  k.fingerprint.substr(0, 4));
  return out;
}

ErrorKind kind_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.kind();
  }
  return ErrorKind::Internal;  // did not throw
}
}  // namespace

TEST_CASE("a prefix matches names on a path-component boundary") {
  CHECK(trust::prefix_matches("example.com", "example.com"));
  CHECK(trust::prefix_matches("example.com", "example.com/app"));
  CHECK(trust::prefix_matches("example.com/app", "example.com/app"));
  CHECK(trust::prefix_matches("example.com/app", "example.com/app/sub"));
  CHECK_FALSE(trust::prefix_matches("example.co", "example.com/app"));
  CHECK_FALSE(trust::prefix_matches("example.com/ap", "example.com/app"));
  CHECK_FALSE(trust::prefix_matches("example.com/app", "example.com"));
  CHECK_FALSE(trust::prefix_matches("example.com/other", "example.com/app"));
  CHECK_FALSE(trust::prefix_matches("", "example.com"));
}

TEST_CASE("prefixes are image name prefixes, never paths that leave the store") {
  CHECK(trust::validate_prefix("example.com/app") == "example.com/app");
  CHECK(trust::validate_prefix("example.com/app/") == "example.com/app");
  for (const char* bad : {"", "/", "/etc", "../x", "example.com/../x", "a//b", "a/./b", "Example.com", "a b", ".."})
    CHECK_MESSAGE(kind_of([&] { trust::validate_prefix(bad); }) == ErrorKind::Usage, bad);
}

TEST_CASE("fingerprints: 40 or 64 hex digits, any case, gpg's spaces") {
  CHECK(trust::normalize_fingerprint("0123456789abcdef0123456789abcdef01234567") == kFp1);
  CHECK(trust::normalize_fingerprint("0123 4567 89AB CDEF 0123  4567 89AB CDEF 0123 4567") == kFp1);
  CHECK(trust::normalize_fingerprint(std::string(64, 'a')) == std::string(64, 'A'));
  for (const char* bad : {"", "0123", "../../etc/passwd", "0123456789ABCDEF0123456789ABCDEF0123456G"})
    CHECK_MESSAGE(kind_of([&] { trust::normalize_fingerprint(bad); }) == ErrorKind::Usage, bad);
}

TEST_CASE("key store layout: add, list, keys_for, remove") {
  TempDir sys, local;
  trust::KeyStore ks(sys.path(), local.path() + "/trustedkeys");
  // A system key, written as an admin would.
  {
    UniqueFd top = open_dir(sys.path());
    UniqueFd d = mkdirs_at(top.get(), "prefix.d/example.com", 0755);
    write_file_at(d.get(), kFp2, "system key\n");
    write_file_at(d.get(), "README", "not a key\n");  // ignored: not a fingerprint
  }
  auto k = ks.add(fake_key(kFp1), "example.com/app", false);
  CHECK(k.path == local.path() + "/trustedkeys/prefix.d/example.com/app/" + kFp1);
  CHECK(read_file(k.path) == "key " + kFp1 + "\n");
  ks.add(fake_key(kFp1), "other.org", false);
  ks.add(fake_key(kFp2), "", true);
  CHECK_THROWS_AS(ks.add(fake_key(kFp1), "../escape", false), Error);

  CHECK(describe(ks.list()) == std::vector<std::string>{"system example.com 89AB", "local root 89AB",
                                                        "local example.com/app 0123", "local other.org 0123"});
  CHECK(describe(ks.keys_for("example.com/app")) ==
        std::vector<std::string>{"system example.com 89AB", "local root 89AB", "local example.com/app 0123"});
  CHECK(describe(ks.keys_for("example.com/application")) ==
        std::vector<std::string>{"system example.com 89AB", "local root 89AB"});
  CHECK(describe(ks.keys_for("example.co")) == std::vector<std::string>{"local root 89AB"});

  CHECK(describe(ks.remove(kFp1.substr(0, 20) + kFp1.substr(20))) ==
        std::vector<std::string>{"local example.com/app 0123", "local other.org 0123"});
  // The prefix dirs it emptied are gone.
  CHECK_FALSE(stat_at(AT_FDCWD, local.path() + "/trustedkeys/prefix.d/example.com"));
  CHECK(kind_of([&] { ks.remove(kFp1); }) == ErrorKind::NotFound);
  // The local root copy of kFp2 goes; the system one stays, and removing it again says where it is.
  CHECK(describe(ks.remove(kFp2)) == std::vector<std::string>{"local root 89AB"});
  try {
    ks.remove(kFp2);
    FAIL("removed a system key");
  } catch (const Error& e) {
    CHECK(e.kind() == ErrorKind::NotFound);
    CHECK(std::string(e.what()).find("system store") != std::string::npos);
  }
}
