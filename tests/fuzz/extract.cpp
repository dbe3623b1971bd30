// ACI import and extraction (src/images/import.cpp, src/images/extract.cpp).
// Input: the image file as given to `pod image fetch` (a tar, or a
// compressed one). It is imported the way the store imports (decompress,
// hash, keep the blob, extract beneath a tree dir), and an accepted image is
// then rendered twice from its blob into one dir, the way layers are
// (rootfs only, later layers overwriting, pathWhitelist applied).
//
// Everything is written beneath one scratch dir, made in $TMPDIR at start and
// removed at exit: tree/ and render/ are emptied after every input, and a
// canary dir outside/ beside them must stay empty (an entry that escaped
// through a symlink or ".." would land there or elsewhere beside tree/).
// The input is also unpacked as an OCI layer (whiteouts kept for overlayfs,
// and applied when flattening) under the same canary.
// Checks: an accepted image has a manifest and only manifest and rootfs/ in
// its tree, renders without error, and every extracted tree can be removed
// again with remove_tree_at (as pod image rm/gc do); no input makes the
// import start a program (libarchive runs external decompressors for some
// formats: the process-spawning calls are replaced below and abort).
// fuzz-options: -max_len=65536
#include <dirent.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <set>
#include <vector>

#include "appc/image_manifest.hpp"
#include "fuzz.hpp"
#include "images/blob.hpp"
#include "images/extract.hpp"
#include "images/import.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"

namespace img = pod::images;

// These override libc's for libarchive too (the executable's symbols come first).
extern "C" {
int posix_spawn(pid_t*, const char* path, const void*, const void*, char* const*, char* const*) {
  FUZZ_CHECK(false, std::string("the import starts a program: ") + path);
}
int posix_spawnp(pid_t*, const char* file, const void*, const void*, char* const*, char* const*) {
  FUZZ_CHECK(false, std::string("the import starts a program: ") + file);
}
pid_t fork() { FUZZ_CHECK(false, "the import forks"); }
pid_t vfork() { FUZZ_CHECK(false, "the import forks"); }
}

namespace {

struct Scratch {
  std::string path;
  pod::UniqueFd fd;
};

Scratch* g_scratch = nullptr;

void remove_scratch() {
  if (!g_scratch) return;
  try {
    pod::remove_tree_at(AT_FDCWD, g_scratch->path);
  } catch (const pod::Error& e) {
    std::fprintf(stderr, "fuzz-extract: cannot remove %s: %s\n", g_scratch->path.c_str(), e.what());
  }
}

const Scratch& scratch() {
  if (g_scratch) return *g_scratch;
  const char* tmp = std::getenv("TMPDIR");
  std::string templ = std::string(tmp && *tmp ? tmp : "/tmp") + "/pod-fuzz-extract.XXXXXX";
  if (!::mkdtemp(templ.data())) pod::throw_sys("cannot create a scratch dir in $TMPDIR");
  g_scratch = new Scratch{templ, pod::open_dir(templ)};
  if (::mkdirat(g_scratch->fd.get(), "outside", 0755) < 0) pod::throw_sys("cannot create the canary dir");
  std::atexit(remove_scratch);
  return *g_scratch;
}

pod::UniqueFd memfd_with(const uint8_t* data, size_t size) {
  pod::UniqueFd fd(::memfd_create("fuzz-aci", MFD_CLOEXEC));
  if (!fd) pod::throw_sys("memfd_create");
  for (size_t off = 0; off < size;) {
    ssize_t n = ::write(fd.get(), data + off, size - off);
    if (n < 0) pod::throw_sys("write memfd");
    off += static_cast<size_t>(n);
  }
  ::lseek(fd.get(), 0, SEEK_SET);
  return fd;
}

std::set<std::string> names_in(int dirfd, const std::string& name) {
  pod::UniqueFd d = pod::open_dir_at(dirfd, name);
  auto v = pod::list_dir(d.get());
  return {v.begin(), v.end()};
}

// As non-root, a dir the image made 0500 or 0000 cannot be emptied: open them up first.
void make_writable(int dirfd) {
  for (const auto& n : pod::list_dir(dirfd)) {
    struct stat st;
    if (::fstatat(dirfd, n.c_str(), &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISDIR(st.st_mode)) continue;
    ::fchmodat(dirfd, n.c_str(), 0700, 0);
    pod::UniqueFd sub(::openat(dirfd, n.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (sub) make_writable(sub.get());
  }
}

void wipe(int dirfd, const char* name) {
  if (::geteuid() != 0) {
    ::fchmodat(dirfd, name, 0700, 0);
    if (pod::UniqueFd d = pod::try_open_dir_at(dirfd, name)) make_writable(d.get());
  }
  try {
    pod::remove_tree_at(dirfd, name);
  } catch (const pod::Error& e) {
    FUZZ_CHECK(false, std::string("an extracted tree cannot be removed: ") + e.what());
  }
}

pod::UniqueFd fresh_dir(int dirfd, const char* name) {
  if (::mkdirat(dirfd, name, 0755) < 0) pod::throw_sys(std::string("cannot create ") + name);
  return pod::open_dir_at(dirfd, name);
}

// Two layers of the same image, the second over the first.
void render(int blob_fd, int dirfd, const nlohmann::json& manifest) {
  const auto wl = pod::appc::manifest_path_whitelist(manifest);
  const std::set<std::string> keep(wl.begin(), wl.end());
  img::ExtractOptions o;
  o.overwrite = true;
  o.rootfs_only = true;
  o.write_manifest = false;
  if (!keep.empty()) o.keep = [&keep](const std::string& rel) { return keep.count(rel) > 0; };
  for (int layer = 0; layer < 2; ++layer) {
    ::lseek(blob_fd, 0, SEEK_SET);
    img::ArchivePtr a = img::open_blob_tar(blob_fd);
    try {
      img::extract_aci(a.get(), dirfd, o);
    } catch (const pod::Error& e) {
      FUZZ_CHECK(false, "layer " + std::to_string(layer) + " of an imported image does not render: " + e.what());
    }
  }
}

// The same bytes as an OCI layer: unpacked for overlayfs (whiteouts kept) and applied twice over
// itself when flattening (whiteouts applied). Whatever is refused, nothing may land outside tree/.
void as_layer(int s, int in_fd) {
  for (auto w : {img::ExtractOptions::Whiteouts::Overlay, img::ExtractOptions::Whiteouts::Apply}) {
    {
      pod::UniqueFd t = fresh_dir(s, "tree");
      img::ExtractOptions o;
      o.layer = true;
      o.overwrite = true;
      o.need_manifest = false;
      o.write_manifest = false;
      o.whiteouts = w;
      o.rootfs_only = w == img::ExtractOptions::Whiteouts::Apply;
      for (int layer = 0; layer < (o.rootfs_only ? 2 : 1); ++layer) {
        ::lseek(in_fd, 0, SEEK_SET);
        try {
          auto r = img::import_aci(in_fd, -1, t.get(), o, nullptr, pod::HashAlg::Sha256);
          FUZZ_CHECK(r.id.size() == 7 + 64 && r.id.rfind("sha256:", 0) == 0, "diffID " + r.id);
        } catch (const pod::Error&) {
          break;
        }
      }
    }
    wipe(s, "tree");
  }
}

void one(const uint8_t* data, size_t size) {
  const int s = scratch().fd.get();
  pod::UniqueFd in = memfd_with(data, size);
  pod::UniqueFd blob(::memfd_create("fuzz-blob", MFD_CLOEXEC));
  img::ImportResult res;
  bool ok = true;
  {
    pod::UniqueFd tree = fresh_dir(s, "tree");
    try {
      res = img::import_aci(in.get(), blob.get(), tree.get(), img::ExtractOptions{});
    } catch (const pod::Error&) {
      ok = false;
    }
  }
  if (ok) {
    FUZZ_CHECK(res.extract.manifest.is_object(), "an image without a manifest was imported");
    FUZZ_CHECK(res.id.size() == 7 + 128 && res.id.rfind("sha512-", 0) == 0, "image id " + res.id);
    // The blob is the input as given (still compressed), read back through a decompressing reader.
    FUZZ_CHECK(res.stored == size && static_cast<off_t>(size) == ::lseek(blob.get(), 0, SEEK_END),
               "the blob is not the input as given");
    for (const auto& n : names_in(s, "tree"))
      FUZZ_CHECK(n == "rootfs" || n == "manifest", "the image tree has \"" + n + "\" at its top");
    pod::UniqueFd r = fresh_dir(s, "render");
    render(blob.get(), r.get(), res.extract.manifest);
  }
  wipe(s, "tree");
  wipe(s, "render");
  as_layer(s, in.get());
  const auto left = names_in(s, ".");
  FUZZ_CHECK(left == std::set<std::string>{"outside"}, "something was written beside tree/ in " + scratch().path);
  FUZZ_CHECK(names_in(s, "outside").empty(), "something was written into " + scratch().path + "/outside");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  one(data, size);
  return 0;
}
