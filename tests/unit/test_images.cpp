#include <doctest/doctest.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>

#include "helpers.hpp"
#include "images/build.hpp"
#include "images/store.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"

using namespace pod;
using podtest::TempDir;
using nlohmann::json;

namespace {

std::string sh(const std::string& cmd) {
  std::string out;
  FILE* p = ::popen(cmd.c_str(), "r");
  REQUIRE(p);
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  REQUIRE(::pclose(p) == 0);
  return out;
}

void put(const std::string& path, const std::string& content) {
  sh("mkdir -p \"$(dirname '" + path + "')\"");
  std::ofstream(path) << content;
}

// Builds an ACI named `name` from files {rootfs-relative path -> content}; returns its path.
std::string make_aci(const std::string& work, const std::string& name, const std::map<std::string, std::string>& files,
                     json extra = json::object()) {
  const std::string dir = work + "/" + std::to_string(std::hash<std::string>{}(name + extra.dump()));
  json m = {{"acKind", "ImageManifest"}, {"acVersion", "0.8.11"}, {"name", name}};
  m.merge_patch(extra);
  put(dir + "/manifest", m.dump());
  sh("mkdir -p " + dir + "/rootfs");
  for (const auto& [p, c] : files) put(dir + "/rootfs/" + p, c);
  const std::string out = dir + ".aci";
  images::BuildOptions o;
  o.overwrite = true;
  images::build_aci(dir, out, o);
  return out;
}

std::string slurp(const std::string& p) {
  std::ifstream f(p);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

json dep(const std::string& name) { return json{{"imageName", name}}; }


// The test images are not signed (signatures: test_trust.py).
images::ImageStore::FetchOptions unsigned_images() {
  images::ImageStore::FetchOptions o;
  o.insecure_image = true;
  o.warn_unverified = false;
  return o;
}
}  // namespace

TEST_CASE("image ID is the SHA-512 of the uncompressed tar, whatever the compression") {
  TempDir t;
  auto aci = make_aci(t.path(), "example.com/id", {{"a", "hello"}, {"dir/b", std::string(300000, 'x')}});
  const std::string want = "sha512-" + sh("sha512sum " + aci).substr(0, 128);
  auto store = images::ImageStore::open(t.path() + "/data");
  const images::ImageStore::FetchOptions o = unsigned_images();
  CHECK(store.fetch(aci, o) == want);
  for (const char* tool : {"gzip", "bzip2", "xz", "zstd -q"}) {
    INFO(tool);
    const std::string c = t.path() + "/c-" + std::string(tool).substr(0, 4);
    sh(std::string(tool) + " -c " + aci + " > " + c);
    CHECK(store.fetch(c, o) == want);
    CHECK(store.fetch("file://" + c, o) == want);
  }
  CHECK(store.list().size() == 1);
  // The tree extracted during the fetch is the cached rendered tree: no re-extraction.
  const std::string tree_dir = t.path() + "/data/images/trees/" + store.tree_id(want);
  struct stat before;
  REQUIRE(::stat((tree_dir + "/rootfs/a").c_str(), &before) == 0);
  auto tree = store.render(want);
  CHECK(tree.path == tree_dir);
  struct stat after;
  REQUIRE(::stat((tree.path + "/rootfs/a").c_str(), &after) == 0);
  CHECK(before.st_ino == after.st_ino);
  CHECK(slurp(tree.path + "/rootfs/a") == "hello");
  CHECK(store.resolve(want.substr(0, 20)) == want);
  CHECK(store.resolve("example.com/id") == want);
  CHECK_THROWS_AS(store.resolve("example.com/nope"), Error);
}

// Found while fuzzing (tests/fuzz extract): the import enabled every libarchive
// filter, and for lrzip, lzop and grzip libarchive runs that program, found
// through $PATH, on the image's bytes.
TEST_CASE("importing never runs an external decompressor, whatever the image's first bytes") {
  TempDir t;
  const std::string bin = t.path() + "/bin", marker = t.path() + "/ran";
  using namespace std::string_literals;
  const std::map<std::string, std::string> magic = {
      {"lrzip", "LRZI\0\6"s}, {"lzop", "\x89LZO\0\r\n\x1a\n\x10\x30\x20\xa0\x09\x40"s}, {"grzip", "GRZipII\0\2\4:)"s}};
  for (const auto& [prog, head] : magic) {
    put(bin + "/" + prog, "#!/bin/sh\ntouch " + marker + "\ncat >/dev/null\n");
    REQUIRE(::chmod((bin + "/" + prog).c_str(), 0755) == 0);
    put(t.path() + "/" + prog + ".aci", head + std::string(1024, '\0'));
  }
  const std::string old_path = std::getenv("PATH") ? std::getenv("PATH") : "/usr/bin:/bin";
  ::setenv("PATH", (bin + ":" + old_path).c_str(), 1);
  auto store = images::ImageStore::open(t.path() + "/data");
  const images::ImageStore::FetchOptions o = unsigned_images();
  for (const auto& [prog, head] : magic) {
    INFO(prog);
    CHECK_THROWS_AS(store.fetch(t.path() + "/" + prog + ".aci", o), Error);
  }
  ::setenv("PATH", old_path.c_str(), 1);
  CHECK_FALSE(exists_at(AT_FDCWD, marker));
  CHECK(store.list().empty());
}

TEST_CASE("dependencies render depth-first in listed order; later layers overwrite") {
  TempDir t;
  auto store = images::ImageStore::open(t.path() + "/data");
  const images::ImageStore::FetchOptions o = unsigned_images();
  // A -> [B, C], C -> [D]: order B, D, C, A.
  std::string d = store.fetch(make_aci(t.path(), "x.org/d", {{"who", "d"}, {"d", "d"}, {"shared", "d"}}), o);
  std::string b = store.fetch(make_aci(t.path(), "x.org/b", {{"who", "b"}, {"b", "b"}}), o);
  std::string c = store.fetch(
      make_aci(t.path(), "x.org/c", {{"who", "c"}, {"c", "c"}}, {{"dependencies", {dep("x.org/d")}}}), o);
  std::string a = store.fetch(make_aci(t.path(), "x.org/a", {{"a", "a"}},
                                       {{"dependencies", {dep("x.org/b"), json{{"imageName", "x.org/c"}, {"imageID", c}}}}}),
                              o);
  CHECK(store.render_order(a) == std::vector<std::string>{b, d, c, a});
  auto tree = store.render(a);
  CHECK(slurp(tree.path + "/rootfs/who") == "c");
  CHECK(slurp(tree.path + "/rootfs/shared") == "d");
  for (const char* f : {"a", "b", "c", "d"}) CHECK(slurp(tree.path + "/rootfs/" + f) == f);
  CHECK(json::parse(slurp(tree.path + "/manifest"))["name"] == "x.org/a");
  CHECK(exists_at(AT_FDCWD, tree.path + "/rendered"));
  // Cached: the same tree comes back.
  CHECK(store.render(a).id == tree.id);
  CHECK(store.tree_id(a) == tree.id);
}

TEST_CASE("pathWhitelist filters the image and the layers below it; directories stay") {
  TempDir t;
  auto store = images::ImageStore::open(t.path() + "/data");
  const images::ImageStore::FetchOptions o = unsigned_images();
  store.fetch(make_aci(t.path(), "x.org/base", {{"etc/passwd", "p"}, {"etc/shadow", "s"}, {"bin/sh", "sh"}}), o);
  std::string top = store.fetch(make_aci(t.path(), "x.org/top", {{"app", "app"}, {"junk/file", "j"}},
                                         {{"dependencies", {dep("x.org/base")}},
                                          {"pathWhitelist", {"/etc/passwd", "/app", "/bin/sh"}}}),
                                o);
  auto tree = store.render(top);
  const std::string r = tree.path + "/rootfs/";
  CHECK(exists_at(AT_FDCWD, r + "etc/passwd"));
  CHECK(exists_at(AT_FDCWD, r + "app"));
  CHECK(exists_at(AT_FDCWD, r + "bin/sh"));
  CHECK_FALSE(exists_at(AT_FDCWD, r + "etc/shadow"));
  CHECK_FALSE(exists_at(AT_FDCWD, r + "junk/file"));
  CHECK(exists_at(AT_FDCWD, r + "junk"));  // directories are kept
}

TEST_CASE("dependency cycles, missing dependencies and wrong sizes are errors") {
  TempDir t;
  auto store = images::ImageStore::open(t.path() + "/data");
  const images::ImageStore::FetchOptions o = unsigned_images();
  std::string p = store.fetch(make_aci(t.path(), "x.org/p", {{"p", "p"}}, {{"dependencies", {dep("x.org/q")}}}), o);
  std::string q = store.fetch(make_aci(t.path(), "x.org/q", {{"q", "q"}}, {{"dependencies", {dep("x.org/p")}}}), o);
  try {
    store.render(p);
    FAIL("rendered a cycle");
  } catch (const Error& e) {
    CHECK(std::string(e.what()).find("cycle") != std::string::npos);
  }
  std::string m = store.fetch(make_aci(t.path(), "x.org/m", {{"m", "m"}}, {{"dependencies", {dep("x.org/missing")}}}), o);
  try {
    store.render(m);
    FAIL("rendered with a missing dependency");
  } catch (const Error& e) {
    CHECK(e.kind() == ErrorKind::NotFound);
    CHECK(std::string(e.what()).find("x.org/missing") != std::string::npos);
  }
  std::string s = store.fetch(
      make_aci(t.path(), "x.org/s", {{"s", "s"}}, {{"dependencies", {json{{"imageName", "x.org/q"}, {"size", 1}}}}}), o);
  CHECK_THROWS_AS(store.render(s), Error);
  (void)q;
}

TEST_CASE("a later layer replaces a symlink instead of following it") {
  PODTEST_WITH_AND_WITHOUT_OPENAT2(mode);
  TempDir t;
  const std::string outside = t.path() + "/outside";
  sh("mkdir -p " + outside);
  const std::string bdir = t.path() + "/lnk";
  put(bdir + "/manifest", R"({"acKind":"ImageManifest","acVersion":"0.8.11","name":"x.org/lnk"})");
  sh("mkdir -p " + bdir + "/rootfs && ln -s " + outside + " " + bdir + "/rootfs/etc");
  images::BuildOptions bo;
  images::build_aci(bdir, bdir + ".aci", bo);
  auto store = images::ImageStore::open(t.path() + "/data");
  const images::ImageStore::FetchOptions o = unsigned_images();
  store.fetch(bdir + ".aci", o);
  std::string top = store.fetch(make_aci(t.path(), "x.org/over", {{"etc/passwd", "root"}},
                                         {{"dependencies", {dep("x.org/lnk")}}}),
                                o);
  auto tree = store.render(top);
  struct stat st;
  REQUIRE(::lstat((tree.path + "/rootfs/etc").c_str(), &st) == 0);
  CHECK(S_ISDIR(st.st_mode));
  CHECK(slurp(tree.path + "/rootfs/etc/passwd") == "root");
  CHECK_FALSE(exists_at(AT_FDCWD, outside + "/passwd"));
  mode.check_fallback();
}

TEST_CASE("image build is deterministic") {
  TempDir t;
  auto a1 = make_aci(t.path(), "x.org/det", {{"z", "1"}, {"a/b", "2"}});
  std::string h1 = sh("sha512sum " + a1).substr(0, 128);
  sh("touch " + t.path() + "/*/rootfs/z");
  images::BuildOptions o;
  o.overwrite = true;
  o.mtime = 0;
  const std::string dir = a1.substr(0, a1.size() - 4);
  images::build_aci(dir, t.path() + "/x1.aci", o);
  sh("sleep 1; touch " + dir + "/rootfs/z");
  images::build_aci(dir, t.path() + "/x2.aci", o);
  CHECK(sh("sha512sum < " + t.path() + "/x1.aci") == sh("sha512sum < " + t.path() + "/x2.aci"));
  CHECK(h1.size() == 128);
}
