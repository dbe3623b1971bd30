// Strict readers for JSON documents of the contract: every error names the
// field by its path ("apps[1].app.exec[0]") and says what was expected, and
// every number is range-checked (no silent wrap of 4294967296 to 0).
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace pod::contract {

using nlohmann::json;

// A position in a document, for error messages.
class Field {
 public:
  Field(std::string doc, const json& j) : path_(std::move(doc)), j_(&j) {}
  Field key(const char* k) const;     // must be an object; missing keys read as null
  Field at(size_t i) const;           // element i of an array
  const json& value() const { return *j_; }
  const std::string& path() const { return path_; }
  bool missing() const { return j_->is_null(); }
  bool has(const char* k) const { return j_->is_object() && j_->contains(k) && !(*j_)[k].is_null(); }

  [[noreturn]] void fail(const std::string& what) const;

  std::string str() const;                                   // a string
  std::string str_or(const std::string& def) const;          // a string, def when missing
  bool boolean_or(bool def) const;
  uint64_t uint(uint64_t max) const;                         // an integer in [0, max]
  std::optional<uint64_t> uint_opt(uint64_t max) const;
  int64_t integer(int64_t min, int64_t max) const;
  size_t size() const;                                       // must be an array (missing = 0)
  std::vector<std::string> strings() const;                  // list of strings (missing = empty)
  void require_object() const;

 private:
  Field(std::string path, const json* j) : path_(std::move(path)), j_(j) {}
  std::string path_;
  const json* j_;
};

// Parse JSON text (at most `max_size` bytes) into a document; errors name `doc`.
json parse_json(const std::string& text, const std::string& doc, size_t max_size = 16u << 20);

}  // namespace pod::contract
