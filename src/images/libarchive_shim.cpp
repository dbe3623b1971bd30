// libarchive, loaded with dlopen when an archive is first read or written
// (util/dynlib.hpp), not at every start of pod: with its ten libraries (ICU,
// libxml2, nettle, the compressors) it cost each process ~1.5 ms of CPU in
// loading and relocation (Documentation/performance.md), paid by `pod list`,
// `pod run` of a cached image and every other command that unpacks nothing.
//
// The code calls libarchive as usual: this file defines the functions pod
// uses, each forwarding to the loaded library's. The definitions must match
// archive.h's declarations (the compiler checks it: a C function cannot be
// declared twice with different types), and they are hidden, so that libpod.so
// exports none of them and a program with a libarchive of its own keeps it.
#pragma GCC visibility push(hidden)
#include <archive.h>
#include <archive_entry.h>
#pragma GCC visibility pop

#include <cstdarg>
#include <cstdio>

#include "util/dynlib.hpp"

// (return type, name, parameters, arguments)
#define POD_ARCHIVE_FNS(X)                                                                                          \
  X(__LA_MODE_T, archive_entry_filetype, (struct archive_entry * e), (e))                                           \
  X(void, archive_entry_free, (struct archive_entry * e), (e))                                                      \
  X(la_int64_t, archive_entry_gid, (struct archive_entry * e), (e))                                                 \
  X(const char*, archive_entry_hardlink, (struct archive_entry * e), (e))                                           \
  X(time_t, archive_entry_mtime, (struct archive_entry * e), (e))                                                   \
  X(long, archive_entry_mtime_nsec, (struct archive_entry * e), (e))                                                \
  X(struct archive_entry*, archive_entry_new, (void), ())                                                           \
  X(const char*, archive_entry_pathname, (struct archive_entry * e), (e))                                           \
  X(__LA_MODE_T, archive_entry_perm, (struct archive_entry * e), (e))                                               \
  X(dev_t, archive_entry_rdev, (struct archive_entry * e), (e))                                                     \
  X(void, archive_entry_set_filetype, (struct archive_entry * e, unsigned int t), (e, t))                           \
  X(void, archive_entry_set_gid, (struct archive_entry * e, la_int64_t g), (e, g))                                  \
  X(void, archive_entry_set_hardlink, (struct archive_entry * e, const char* s), (e, s))                            \
  X(void, archive_entry_set_mtime, (struct archive_entry * e, time_t t, long ns), (e, t, ns))                       \
  X(void, archive_entry_set_pathname, (struct archive_entry * e, const char* s), (e, s))                            \
  X(void, archive_entry_set_perm, (struct archive_entry * e, __LA_MODE_T m), (e, m))                                \
  X(void, archive_entry_set_rdev, (struct archive_entry * e, dev_t d), (e, d))                                      \
  X(void, archive_entry_set_size, (struct archive_entry * e, la_int64_t n), (e, n))                                 \
  X(void, archive_entry_set_symlink, (struct archive_entry * e, const char* s), (e, s))                             \
  X(void, archive_entry_set_uid, (struct archive_entry * e, la_int64_t u), (e, u))                                  \
  X(la_int64_t, archive_entry_size, (struct archive_entry * e), (e))                                                \
  X(const char*, archive_entry_symlink, (struct archive_entry * e), (e))                                            \
  X(la_int64_t, archive_entry_uid, (struct archive_entry * e), (e))                                                 \
  X(void, archive_entry_xattr_add_entry, (struct archive_entry * e, const char* n, const void* v, size_t s),        \
    (e, n, v, s))                                                                                                   \
  X(int, archive_entry_xattr_next, (struct archive_entry * e, const char** n, const void** v, size_t* s),           \
    (e, n, v, s))                                                                                                   \
  X(int, archive_entry_xattr_reset, (struct archive_entry * e), (e))                                                \
  X(int, archive_errno, (struct archive * a), (a))                                                                  \
  X(const char*, archive_error_string, (struct archive * a), (a))                                                   \
  X(la_ssize_t, archive_read_data, (struct archive * a, void* b, size_t n), (a, b, n))                              \
  X(int, archive_read_data_block, (struct archive * a, const void** b, size_t* n, la_int64_t* o), (a, b, n, o))     \
  X(int, archive_read_free, (struct archive * a), (a))                                                              \
  X(struct archive*, archive_read_new, (void), ())                                                                  \
  X(int, archive_read_next_header, (struct archive * a, struct archive_entry** e), (a, e))                          \
  X(int, archive_read_open,                                                                                         \
    (struct archive * a, void* d, archive_open_callback* o, archive_read_callback* r, archive_close_callback* c),   \
    (a, d, o, r, c))                                                                                                \
  X(int, archive_read_open_fd, (struct archive * a, int fd, size_t n), (a, fd, n))                                  \
  X(int, archive_read_support_filter_bzip2, (struct archive * a), (a))                                              \
  X(int, archive_read_support_filter_gzip, (struct archive * a), (a))                                               \
  X(int, archive_read_support_filter_xz, (struct archive * a), (a))                                                 \
  X(int, archive_read_support_filter_zstd, (struct archive * a), (a))                                               \
  X(int, archive_read_support_format_raw, (struct archive * a), (a))                                                \
  X(int, archive_read_support_format_tar, (struct archive * a), (a))                                                \
  X(int, archive_write_close, (struct archive * a), (a))                                                            \
  X(la_ssize_t, archive_write_data, (struct archive * a, const void* b, size_t n), (a, b, n))                       \
  X(int, archive_write_free, (struct archive * a), (a))                                                             \
  X(int, archive_write_header, (struct archive * a, struct archive_entry* e), (a, e))                               \
  X(struct archive*, archive_write_new, (void), ())                                                                 \
  X(int, archive_write_open_fd, (struct archive * a, int fd), (a, fd))                                              \
  X(int, archive_write_set_format_pax_restricted, (struct archive * a), (a))

namespace {

struct ArchiveApi {
#define POD_FIELD(ret, name, params, args) decltype(&::name) name;
  POD_ARCHIVE_FNS(POD_FIELD)
#undef POD_FIELD
  decltype(&::archive_set_error) archive_set_error;
};

const ArchiveApi& api() {
  return pod::load_once<ArchiveApi>("libarchive.so.13", "image archives (libarchive)",
                                    [](const pod::DynLib& lib, ArchiveApi& a) {
#define POD_BIND(ret, name, params, args) lib.bind(a.name, #name);
                                      POD_ARCHIVE_FNS(POD_BIND)
#undef POD_BIND
                                      lib.bind(a.archive_set_error, "archive_set_error");
                                    });
}

}  // namespace

extern "C" {
#define POD_FORWARD(ret, name, params, args) \
  ret name params { return api().name args; }
POD_ARCHIVE_FNS(POD_FORWARD)
#undef POD_FORWARD

// Variadic: formatted here, passed on as one string.
void archive_set_error(struct archive* a, int err, const char* fmt, ...) {
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  std::vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  api().archive_set_error(a, err, "%s", msg);
}
}
