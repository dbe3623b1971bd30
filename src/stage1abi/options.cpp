#include "stage1abi/options.hpp"

#include "appc/image_manifest.hpp"

#include <algorithm>
#include <limits>

#include "contract/jsonread.hpp"
#include "stage1abi/stage1.hpp"
#include "util/error.hpp"

namespace pod::stage1 {

namespace {

// Why `value` is not a valid `d`, or "" when it is.
std::string reject(const OptionDecl& d, const std::string& value) {
  if (d.type == "string") return value.find('\0') == std::string::npos ? "" : "must not contain NUL";
  if (d.type == "bool") return value == "true" || value == "false" ? "" : "takes true or false";
  if (d.type == "enum") {
    if (std::find(d.values.begin(), d.values.end(), value) != d.values.end()) return "";
    std::string list;
    for (const auto& v : d.values) list += (list.empty() ? "" : ", ") + v;
    return "takes one of " + list;
  }
  if (d.type == "size") return parse_size(value) ? "" : "takes a size in bytes, optionally with k, M, G, Ki, Mi or Gi";
  // int
  auto v = parse_integer(value);
  std::string range = d.min && d.max ? " from " + std::to_string(*d.min) + " to " + std::to_string(*d.max) : "";
  if (!v || (d.min && *v < *d.min) || (d.max && *v > *d.max)) return "takes a whole number" + range;
  return "";
}

}  // namespace

std::optional<int64_t> parse_integer(const std::string& s) {
  if (s.empty() || s.size() > 19) return std::nullopt;
  size_t i = s[0] == '-' ? 1 : 0;
  if (i == s.size() || s.find_first_not_of("0123456789", i) != std::string::npos) return std::nullopt;
  int64_t v = 0;
  for (size_t k = i; k < s.size(); ++k) v = v * 10 + (s[k] - '0');
  return i ? -v : v;
}

std::optional<uint64_t> parse_size(const std::string& s) {
  size_t i = 0;
  while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i;
  if (i == 0 || i > 19) return std::nullopt;
  uint64_t n = 0;
  for (size_t k = 0; k < i; ++k) n = n * 10 + static_cast<uint64_t>(s[k] - '0');
  static const std::map<std::string, uint64_t> units = {
      {"", 1},          {"k", 1000},       {"K", 1000},        {"M", 1000000},       {"G", 1000000000},
      {"T", 1000000000000}, {"Ki", 1ull << 10}, {"Mi", 1ull << 20}, {"Gi", 1ull << 30}, {"Ti", 1ull << 40}};
  auto u = units.find(s.substr(i));
  if (u == units.end()) return std::nullopt;
  if (n > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) / u->second) return std::nullopt;
  return n * u->second;
}

std::vector<OptionDecl> declared_options(const nlohmann::json& manifest) {
  const std::string text = appc::manifest_annotation(manifest, kAnnOptions).value_or("");
  std::vector<OptionDecl> out;
  if (text.empty()) return out;
  const std::string doc = "stage1 image " + manifest.value("name", std::string("?")) + ": " + kAnnOptions;
  nlohmann::json j = contract::parse_json(text, doc, 1 << 16);
  contract::Field list(doc, j);
  for (size_t i = 0, n = list.size(); i < n; ++i) {
    contract::Field f = list.at(i);
    OptionDecl d;
    d.name = f.key("name").str();
    d.type = f.key("type").str_or("string");
    d.def = f.key("default").str_or("");
    d.help = f.key("help").str_or("");
    d.values = f.key("values").strings();
    if (!f.key("min").missing()) d.min = f.key("min").integer(INT64_MIN, INT64_MAX);
    if (!f.key("max").missing()) d.max = f.key("max").integer(INT64_MIN, INT64_MAX);
    if (d.name.empty() || d.name.find_first_of("= ,") != std::string::npos) f.key("name").fail("is not an option name");
    if (d.type != "string" && d.type != "bool" && d.type != "int" && d.type != "enum" && d.type != "size")
      f.key("type").fail("\"" + d.type + "\" is not string, bool, int, enum or size");
    if (d.type == "enum" && d.values.empty()) f.key("values").fail("an enum needs values");
    if (!d.def.empty())
      if (std::string why = reject(d, d.def); !why.empty()) f.key("default").fail("\"" + d.def + "\": " + why);
    out.push_back(std::move(d));
  }
  return out;
}

void check_options(const std::vector<OptionDecl>& decls, const std::map<std::string, std::string>& given,
                   const std::string& stage1_name) {
  for (const auto& [name, value] : given) {
    auto d = std::find_if(decls.begin(), decls.end(), [&](const OptionDecl& o) { return o.name == name; });
    if (d == decls.end()) {
      std::string list;
      for (const auto& o : decls) list += (list.empty() ? "" : ", ") + o.name;
      throw usage_error("--stage1-opt " + name + ": stage1 " + stage1_name + " has no such option" +
                        (list.empty() ? " (it takes none)" : " (it takes " + list + ")"));
    }
    if (std::string why = reject(*d, value); !why.empty())
      throw usage_error("--stage1-opt " + name + "=" + value.substr(0, 64) + ": " + why);
  }
}

std::pair<std::string, std::string> parse_option_flag(const std::string& s) {
  auto eq = s.find('=');
  if (eq == std::string::npos || eq == 0) throw usage_error("--stage1-opt \"" + s + "\": expected NAME=VALUE");
  return {s.substr(0, eq), s.substr(eq + 1)};
}

}  // namespace pod::stage1
