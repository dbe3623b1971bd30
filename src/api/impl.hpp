// Internals of the public API (include/pod/pod.hpp): the opened data dir, the
// image store on first use, and the guard that keeps every exception that is
// not a pod::Error from escaping a call.
#pragma once
#include <pod/pod.hpp>

#include <functional>
#include <new>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "images/store.hpp"
#include "pods/info.hpp"
#include "pods/store.hpp"
#include "util/error.hpp"

namespace pod {

struct Runtime::Impl {
  Store store;
  std::optional<images::ImageStore> images_;
  std::function<void(const std::string&)> log, notice_log;

  explicit Impl(Store s) : store(std::move(s)) {}
  images::ImageStore& images() {
    if (!images_) images_.emplace(images::ImageStore::open(store.path()));
    return *images_;
  }
  void debug(const std::string& m) const {
    if (log) log(m);
  }
  void notice(const std::string& m) const {
    if (notice_log) notice_log(m);
  }
};

namespace api {

// Run `f`; a pod::Error passes through, anything else becomes one (a
// malformed document is Invalid, the rest Internal), so callers see one type.
template <class F>
auto guarded(F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (const Error&) {
    throw;
  } catch (const nlohmann::json::exception& e) {
    throw Error(std::string("malformed JSON: ") + e.what(), 0, ErrorKind::Invalid);
  } catch (const std::bad_alloc&) {
    throw Error("out of memory", ENOMEM, ErrorKind::Io);
  } catch (const std::exception& e) {
    throw Error(std::string("internal error: ") + e.what(), 0, ErrorKind::Internal);
  }
}

PodStatus to_public(const PodInfo& info);

// The polling interval of the calls that wait for a pod's state to change.
void sleep_ms(long ms);

}  // namespace api
}  // namespace pod
