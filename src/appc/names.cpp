#include "appc/names.hpp"

#include <cctype>
#include <vector>

namespace pod::appc {

namespace {
bool lower_alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

// Runs of lower_alnum separated by single characters from `seps`.
bool separated_runs(const std::string& s, const char* seps) {
  if (s.empty()) return false;
  bool need_alnum = true;
  for (char c : s) {
    if (lower_alnum(c)) {
      need_alnum = false;
    } else if (std::string_view(seps).find(c) != std::string_view::npos) {
      if (need_alnum) return false;
      need_alnum = true;
    } else {
      return false;
    }
  }
  return !need_alnum;
}

bool numeric_ident(const std::string& p) {
  if (p.empty()) return false;
  for (char c : p)
    if (!std::isdigit(static_cast<unsigned char>(c))) return false;
  return !(p.size() > 1 && p[0] == '0');
}

bool dot_idents(const std::string& s, bool check_leading_zero) {
  if (s.empty()) return false;
  size_t i = 0;
  while (i <= s.size()) {
    size_t j = s.find('.', i);
    if (j == std::string::npos) j = s.size();
    std::string p = s.substr(i, j - i);
    if (p.empty()) return false;
    bool all_digits = true;
    for (char c : p) {
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-') return false;
      if (!std::isdigit(static_cast<unsigned char>(c))) all_digits = false;
    }
    if (check_leading_zero && all_digits && !numeric_ident(p)) return false;
    i = j + 1;
  }
  return true;
}
}  // namespace

bool is_ac_identifier(const std::string& s) { return separated_runs(s, "-._~/"); }
bool is_ac_name(const std::string& s) { return separated_runs(s, "-"); }

bool is_ac_kind(const std::string& s) {
  if (s.empty()) return false;
  for (char c : s)
    if (!std::isalnum(static_cast<unsigned char>(c))) return false;
  return true;
}

bool is_env_name(const std::string& s) {
  if (s.empty()) return false;
  auto first = [](char c) { return std::isalpha(static_cast<unsigned char>(c)) || c == '_'; };
  if (!first(s[0])) return false;
  for (char c : s)
    if (!first(c) && !std::isdigit(static_cast<unsigned char>(c)) && c != '.' && c != '-') return false;
  return true;
}

std::optional<SemVer> parse_semver(const std::string& s) {
  SemVer v;
  std::string core = s;
  if (auto plus = core.find('+'); plus != std::string::npos) {
    v.build = core.substr(plus + 1);
    core = core.substr(0, plus);
    if (!dot_idents(v.build, false)) return std::nullopt;
  }
  if (auto dash = core.find('-'); dash != std::string::npos) {
    v.pre = core.substr(dash + 1);
    core = core.substr(0, dash);
    if (!dot_idents(v.pre, true)) return std::nullopt;
  }
  std::vector<std::string> parts;
  size_t i = 0;
  while (i <= core.size()) {
    size_t j = core.find('.', i);
    if (j == std::string::npos) j = core.size();
    parts.push_back(core.substr(i, j - i));
    i = j + 1;
  }
  if (parts.size() != 3) return std::nullopt;
  for (const auto& p : parts)
    if (!numeric_ident(p) || p.size() > 18) return std::nullopt;
  v.major = std::stoul(parts[0]);
  v.minor = std::stoul(parts[1]);
  v.patch = std::stoul(parts[2]);
  return v;
}

}  // namespace pod::appc
