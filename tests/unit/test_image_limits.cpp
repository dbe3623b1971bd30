// The configuration file, the gzip trailer check and the free-space check.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <zlib.h>

#include <string>

#include "config/config.hpp"
#include "helpers.hpp"
#include "images/blob.hpp"
#include "images/space.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"

using namespace pod;

namespace {

// One gzip member of `data` (zlib's gzip wrapper).
std::string gzip(const std::string& data) {
  z_stream z{};
  REQUIRE(deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) == Z_OK);
  std::string out(deflateBound(&z, data.size()) + 64, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  z.avail_in = static_cast<uInt>(data.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  REQUIRE(deflate(&z, Z_FINISH) == Z_STREAM_END);
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

// Feeds s to a GzipCheck in pieces of `step` bytes; returns finish()'s error ("" = accepted).
std::string check_gzip(const std::string& s, size_t step) {
  images::GzipCheck c;
  for (size_t i = 0; i < s.size(); i += step) c.feed(s.data() + i, std::min(step, s.size() - i));
  return podtest::error_message([&] { c.finish(); });
}

}  // namespace

TEST_CASE("configuration: typed images section, unknown keys and bad values are errors naming them") {
  auto c = config::parse(R"({"images": {"maxUncompressedSize": "2G", "maxEntries": 1000000}})", "t.json");
  CHECK(c.images.max_uncompressed == 2'000'000'000ull);
  CHECK(c.images.max_entries == 1'000'000);
  CHECK(config::parse(R"({"images": {"maxUncompressedSize": "512Mi"}})", "t").images.max_uncompressed == 512ull << 20);
  CHECK(config::parse(R"({"images": {"maxUncompressedSize": 4096}})", "t").images.max_uncompressed == 4096);
  CHECK(config::parse("{}", "t").images.max_entries == 0);
  CHECK(podtest::error_message([] { config::parse(R"({"images": {"maxSize": "1G"}})", "t.json"); }) ==
        "configuration t.json: unknown key \"images.maxSize\" (known: maxUncompressedSize, maxEntries)");
  CHECK(podtest::error_message([] { config::parse(R"({"image": {}})", "t.json"); }) ==
        "configuration t.json: unknown key \"image\" (known: images, paths, stage1, auth, networks, trust, limits)");
  CHECK(podtest::error_message([] { config::parse(R"({"images": {"maxUncompressedSize": "2 G"}})", "t.json"); }) ==
        "configuration t.json: images.maxUncompressedSize must be a size: bytes, or a string such as \"2G\" or "
        "\"512Mi\"");
  CHECK(podtest::error_message([] { config::parse(R"({"images": {"maxEntries": -1}})", "t.json"); }) ==
        "configuration t.json: images.maxEntries must be a non-negative integer");
  CHECK(podtest::error_message([] { config::parse("[1]", "t.json"); }) == "configuration t.json: must be a JSON object");
}

TEST_CASE("configuration: paths, stage1 and auth sections; the local layer cannot move the data dir") {
  auto c = config::parse(R"({"paths": {"dataDir": "/srv/pod"}, "stage1": {"defaultFlavor": "kvm"},
                            "auth": {"registryAuthFile": "/etc/pod/auth.json"}})", "s.json");
  CHECK(c.paths.data_dir == "/srv/pod");
  CHECK(c.stage1.default_flavor == "kvm");
  CHECK(c.auth.registry_file == "/etc/pod/auth.json");
  CHECK(c.sources.at("stage1.defaultFlavor") == "s.json");
  auto over = config::parse(R"({"stage1": {"defaultFlavor": "nspawn"}})", "l.json", c);
  CHECK(over.stage1.default_flavor == "nspawn");
  CHECK(over.paths.data_dir == "/srv/pod");  // key by key
  CHECK(podtest::error_message([] { config::parse(R"({"paths": {"dataDir": "/x"}})", "l.json", {}, true); }) ==
        "configuration l.json: paths.dataDir cannot be set in the data dir's own pod.json (set it in /etc/pod/pod.json)");
  CHECK(podtest::error_message([] { config::parse(R"({"auth": {"registryAuthFile": "a.json"}})", "s.json"); }) ==
        "configuration s.json: auth.registryAuthFile must be an absolute path (a string starting with /)");
  CHECK(podtest::error_message([] { config::parse(R"({"stage1": {"defaultFlavor": 1}})", "s.json"); }) ==
        "configuration s.json: stage1.defaultFlavor must be a non-empty string");
  Error e("x");
  try {
    config::parse(R"({"stage1": []})", "s.json");
  } catch (const Error& err) {
    e = err;
  }
  CHECK(std::string(e.what()) == "configuration s.json: stage1 must be an object");
  CHECK(e.item() == "s.json");
}

TEST_CASE("configuration: $POD_CONFIG names the file, which must exist") {
  podtest::TempDir t;
  const std::string p = t.path() + "/pod.json";
  write_file_at(AT_FDCWD, p, R"({"images": {"maxEntries": 7}})");
  ::setenv("POD_CONFIG", p.c_str(), 1);
  auto c = config::load();
  CHECK(c.images.max_entries == 7);
  CHECK(c.path == p);
  ::setenv("POD_CONFIG", (p + ".missing").c_str(), 1);
  CHECK(podtest::error_message([] { config::load(); }) == "configuration " + p + ".missing ($POD_CONFIG) does not exist");
  ::unsetenv("POD_CONFIG");
}

TEST_CASE("gzip check: trailers are verified, in every member, whatever the read sizes") {
  const std::string data(300000, 'x');
  const std::string gz = gzip(data);
  for (size_t step : {size_t{1}, size_t{7}, size_t{4096}, gz.size()}) {
    INFO(step);
    CHECK(check_gzip(gz, step) == "");
    CHECK(check_gzip(gz + gzip("second member"), step) == "");
    CHECK(check_gzip(gz + "trailing garbage", step) == "");
    std::string bad_crc = gz;
    bad_crc[bad_crc.size() - 8] ^= 1;
    CHECK(check_gzip(bad_crc, step) == "corrupt gzip stream: its CRC-32 trailer does not match the data (the file is damaged)");
    std::string bad_len = gz;
    bad_len[bad_len.size() - 1] ^= 1;
    CHECK(check_gzip(bad_len, step) == "corrupt gzip stream: its length trailer does not match the data (the file is damaged)");
    std::string bad_second = gz + gzip("second member");
    bad_second[bad_second.size() - 6] ^= 1;
    CHECK(check_gzip(bad_second, step) == "corrupt gzip stream: its CRC-32 trailer does not match the data (the file is damaged)");
    CHECK(check_gzip(gz.substr(0, gz.size() - 4), step) == "corrupt gzip stream: it ends before its trailer (the file is truncated)");
  }
  CHECK(check_gzip(data, 4096) == "");  // not gzip: not its business
}

TEST_CASE("free-space check: names the store, the need and what is free") {
  podtest::TempDir t;
  UniqueFd d = open_dir(t.path());
  images::check_free_space(d.get(), 1, "/the/store");
  try {
    images::check_free_space(d.get(), 1ull << 62, "/the/store");
    FAIL("no error");
  } catch (const Error& e) {
    CHECK(e.errnum() == ENOSPC);
    CHECK(std::string(e.what()).rfind("not enough space in the image store (/the/store): need ~4398046511104 MiB, ", 0) == 0);
    CHECK(std::string(e.what()).ends_with(" MiB free"));
  }
}
