#include "contract/jsonread.hpp"

#include "util/error.hpp"

namespace pod::contract {

namespace {
const json& null_json() {
  static const json n;
  return n;
}
}  // namespace

void Field::fail(const std::string& what) const { throw Error(path_ + ": " + what, 0, ErrorKind::Invalid); }

void Field::require_object() const {
  if (!j_->is_object()) fail("must be an object");
}

Field Field::key(const char* k) const {
  if (!j_->is_object()) fail("must be an object");
  std::string p = path_ + "." + k;
  auto it = j_->find(k);
  return it == j_->end() ? Field(p, &null_json()) : Field(p, &*it);
}

Field Field::at(size_t i) const {
  if (!j_->is_array() || i >= j_->size()) fail("has no element " + std::to_string(i));
  return Field(path_ + "[" + std::to_string(i) + "]", &(*j_)[i]);
}

namespace {
// JSON text is UTF-8; a string built in memory (from a flag, say) may not be.
bool valid_utf8(const std::string& s) {
  size_t i = 0;
  while (i < s.size()) {
    auto c = static_cast<unsigned char>(s[i]);
    size_t n = c < 0x80 ? 0 : (c >> 5) == 0x6 ? 1 : (c >> 4) == 0xe ? 2 : (c >> 3) == 0x1e ? 3 : 4;
    if (n == 4 || (n > 0 && c < 0xc2) || i + n >= s.size() + (n ? 0 : 1)) return false;
    for (size_t k = 1; k <= n; ++k)
      if ((static_cast<unsigned char>(s[i + k]) >> 6) != 0x2) return false;
    i += n + 1;
  }
  return true;
}
}  // namespace

std::string Field::str() const {
  if (!j_->is_string()) fail(missing() ? "is required (a string)" : "must be a string");
  const std::string& s = j_->get_ref<const std::string&>();
  if (!valid_utf8(s)) fail("is not valid UTF-8");
  return s;
}

std::string Field::str_or(const std::string& def) const { return missing() ? def : str(); }

bool Field::boolean_or(bool def) const {
  if (missing()) return def;
  if (!j_->is_boolean()) fail("must be true or false");
  return j_->get<bool>();
}

uint64_t Field::uint(uint64_t max) const {
  if (j_->is_number_unsigned()) {
    uint64_t v = j_->get<uint64_t>();
    if (v > max) fail(std::to_string(v) + " is out of range (at most " + std::to_string(max) + ")");
    return v;
  }
  if (j_->is_number_integer()) fail(std::to_string(j_->get<int64_t>()) + " is negative");
  fail(missing() ? "is required (a non-negative integer)" : "must be a non-negative integer");
}

std::optional<uint64_t> Field::uint_opt(uint64_t max) const {
  if (missing()) return std::nullopt;
  return uint(max);
}

int64_t Field::integer(int64_t min, int64_t max) const {
  if (j_->is_number_unsigned()) {
    uint64_t v = j_->get<uint64_t>();
    // nlohmann reads every non-negative number as unsigned: the minimum applies to them too.
    if (v > static_cast<uint64_t>(max) || (min > 0 && v < static_cast<uint64_t>(min)))
      fail(std::to_string(v) + " is out of range (" + std::to_string(min) + " to " + std::to_string(max) + ")");
    return static_cast<int64_t>(v);
  }
  if (!j_->is_number_integer()) fail("must be an integer");
  int64_t v = j_->get<int64_t>();
  if (v < min || v > max)
    fail(std::to_string(v) + " is out of range (" + std::to_string(min) + " to " + std::to_string(max) + ")");
  return v;
}

size_t Field::size() const {
  if (missing()) return 0;
  if (!j_->is_array()) fail("must be a list");
  return j_->size();
}

std::vector<std::string> Field::strings() const {
  std::vector<std::string> out;
  for (size_t i = 0, n = size(); i < n; ++i) out.push_back(at(i).str());
  return out;
}

json parse_json(const std::string& text, const std::string& doc, size_t max_size) {
  if (text.size() > max_size)
    throw Error(doc + " is larger than " + std::to_string(max_size) + " bytes", 0, ErrorKind::Invalid);
  json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) throw Error(doc + " is not valid JSON", 0, ErrorKind::Invalid);
  return j;
}

}  // namespace pod::contract
