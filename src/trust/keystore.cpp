#include "trust/keystore.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>

#include "appc/names.hpp"
#include "trust/gpg.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"

namespace pod::trust {

namespace {

constexpr const char* kPrefixDir = "prefix.d";
constexpr const char* kRootDir = "root.d";

bool is_upper_hex(const std::string& s) {
  if (s.size() != 40 && s.size() != 64) return false;
  return std::all_of(s.begin(), s.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F'); });
}

// Key files under dirfd (the dir of `prefix`), then the prefixes below it.
void walk(int dirfd, const std::string& dir_path, const std::string& prefix, bool root, bool system,
          std::vector<StoredKey>& out) {
  std::vector<std::string> names = list_dir(dirfd);
  std::sort(names.begin(), names.end());
  for (const auto& n : names) {
    auto st = stat_at(dirfd, n);
    if (!st) continue;
    const std::string path = dir_path + "/" + n;
    if (S_ISREG(st->st_mode) && is_upper_hex(n)) {
      out.push_back({n, prefix, root, system, path});
    } else if (S_ISDIR(st->st_mode) && !root && appc::is_ac_identifier(n)) {
      UniqueFd sub = open_dir_at(dirfd, n);
      walk(sub.get(), path, prefix.empty() ? n : prefix + "/" + n, false, system, out);
    }
  }
}

void list_store(const std::string& dir, bool system, std::vector<StoredKey>& out) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return;  // no keys there
    throw_sys("cannot open the trusted key directory " + dir);
  }
  UniqueFd top(fd);
  if (UniqueFd r = try_open_dir_at(top.get(), kRootDir)) walk(r.get(), dir + "/" + kRootDir, "", true, system, out);
  if (UniqueFd p = try_open_dir_at(top.get(), kPrefixDir))
    walk(p.get(), dir + "/" + kPrefixDir, "", false, system, out);
}

}  // namespace

bool prefix_matches(const std::string& prefix, const std::string& name) {
  if (prefix.empty() || name.size() < prefix.size() || name.compare(0, prefix.size(), prefix) != 0) return false;
  return name.size() == prefix.size() || name[prefix.size()] == '/';
}

std::string validate_prefix(const std::string& given) {
  std::string p = given;
  while (p.size() > 1 && p.back() == '/') p.pop_back();
  if (p.empty()) throw usage_error("the image name prefix is empty; give --prefix=NAME-PREFIX or --root");
  if (!appc::is_ac_identifier(p))
    throw usage_error("\"" + given +
                      "\" is not an image name prefix (lower-case letters, digits and -._~/ between them, "
                      "like example.com/app)");
  return p;
}

std::string normalize_fingerprint(const std::string& given) {
  std::string fp;
  for (char c : given)
    if (c != ' ') fp += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  if (!is_upper_hex(fp))
    throw usage_error("\"" + given + "\" is not a key fingerprint (40 hex digits, as `pod trust list` shows)");
  return fp;
}

KeyStore::KeyStore(std::string system_dir, std::string local_dir)
    : system_dir_(std::move(system_dir)), local_dir_(std::move(local_dir)) {}

KeyStore KeyStore::for_data_dir(const std::string& data_dir) {
  const char* sys = std::getenv("POD_TRUST_SYSTEM_DIR");
  return KeyStore(sys && *sys ? sys : "/etc/pod/trustedkeys", data_dir + "/trustedkeys");
}

StoredKey KeyStore::add(const PublicKey& key, const std::string& prefix, bool root) {
  const std::string fp = normalize_fingerprint(key.info.fingerprint);
  const std::string rel = root ? std::string(kRootDir) : std::string(kPrefixDir) + "/" + validate_prefix(prefix);
  ::mkdir(local_dir_.c_str(), 0755);
  UniqueFd top = open_dir(local_dir_);
  UniqueFd dir = mkdirs_at(top.get(), rel, 0755);
  write_file_atomic_at(dir.get(), fp, key.armored, 0644);
  return {fp, root ? "" : validate_prefix(prefix), root, false, local_dir_ + "/" + rel + "/" + fp};
}

std::vector<StoredKey> KeyStore::list() const {
  std::vector<StoredKey> out;
  list_store(system_dir_, true, out);
  list_store(local_dir_, false, out);
  return out;
}

std::vector<StoredKey> KeyStore::keys_for(const std::string& name) const {
  std::vector<StoredKey> out;
  for (auto& k : list())
    if (k.root || prefix_matches(k.prefix, name)) out.push_back(std::move(k));
  return out;
}

std::vector<StoredKey> KeyStore::remove(const std::string& fingerprint) {
  const std::string fp = normalize_fingerprint(fingerprint);
  std::vector<StoredKey> removed;
  bool in_system = false;
  for (const auto& k : list()) {
    if (k.fingerprint != fp) continue;
    if (k.system) {
      in_system = true;
      continue;
    }
    if (::unlink(k.path.c_str()) < 0 && errno != ENOENT) throw_sys("cannot remove " + k.path);
    removed.push_back(k);
    // Drop the prefix dirs this leaves empty (rmdir fails on the others).
    std::string dir = k.path.substr(0, k.path.rfind('/'));
    const std::string stop = local_dir_ + "/" + kPrefixDir;
    while (!k.root && dir.size() > stop.size() && ::rmdir(dir.c_str()) == 0) dir.resize(dir.rfind('/'));
  }
  if (removed.empty())
    throw Error(in_system ? "key " + fp + " is in the system store " + system_dir_ +
                                "; pod trust rm removes local keys only (remove the file there as its admin)"
                          : "no trusted key " + fp + " (see pod trust list)",
                ENOENT, ErrorKind::NotFound);
  return removed;
}

std::string read_key(const StoredKey& k) { return read_file(k.path, 1 << 20); }

}  // namespace pod::trust
