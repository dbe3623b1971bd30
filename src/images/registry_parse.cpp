// Image references, platforms, WWW-Authenticate, token replies, manifests
// and auth.json (images/registry.hpp, images/registry_parse.hpp).
#include "images/registry_parse.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <cstdlib>
#include <nlohmann/json.hpp>

#include "contract/jsonread.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"

namespace pod::images {

namespace {

using contract::Field;
using nlohmann::json;

bool lower_alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }
bool alnum(char c) { return lower_alnum(c) || (c >= 'A' && c <= 'Z'); }

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

// A path component: [a-z0-9]+ ((\.|_|__|-+)[a-z0-9]+)*
bool valid_component(const std::string& c) {
  if (c.empty() || !lower_alnum(c.front()) || !lower_alnum(c.back())) return false;
  for (size_t i = 0; i < c.size();) {
    if (lower_alnum(c[i])) {
      ++i;
      continue;
    }
    size_t j = i;
    while (j < c.size() && !lower_alnum(c[j])) ++j;
    const std::string sep = c.substr(i, j - i);
    if (sep != "." && sep != "_" && sep != "__" && sep.find_first_not_of('-') != std::string::npos) return false;
    i = j;
  }
  return true;
}

// host (letters, digits, '-', '.') or [IPv6], then an optional :port.
bool valid_host(const std::string& h) {
  std::string host = h, port;
  if (!h.empty() && h[0] == '[') {
    auto close = h.find(']');
    if (close == std::string::npos || close == 1) return false;
    if (h.substr(1, close - 1).find_first_not_of("0123456789abcdefABCDEF:.") != std::string::npos) return false;
    if (close + 1 < h.size() && h[close + 1] != ':') return false;
    port = close + 1 < h.size() ? h.substr(close + 2) : "";
    if (close + 1 < h.size() && port.empty()) return false;
  } else {
    if (auto colon = h.find(':'); colon != std::string::npos) {
      host = h.substr(0, colon);
      port = h.substr(colon + 1);
      if (port.empty()) return false;
    }
    if (host.empty() || !alnum(host.front()) || !alnum(host.back())) return false;
    for (char c : host)
      if (!alnum(c) && c != '-' && c != '.') return false;
  }
  if (port.empty()) return true;
  if (port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos) return false;
  const long p = std::strtol(port.c_str(), nullptr, 10);
  return p >= 1 && p <= 65535;
}

bool valid_tag(const std::string& t) {
  if (t.empty() || t.size() > 128 || !(alnum(t[0]) || t[0] == '_')) return false;
  return std::all_of(t.begin(), t.end(), [](char c) { return alnum(c) || c == '_' || c == '.' || c == '-'; });
}

bool is_docker_hub(const std::string& host) {
  return host == "docker.io" || host == "index.docker.io" || host == "registry-1.docker.io" ||
         host == "registry.hub.docker.com";
}

}  // namespace

std::string RegistryRef::str() const {
  std::string s = registry + "/" + repository;
  if (!tag.empty()) s += ":" + tag;
  if (!digest.empty()) s += "@" + digest;
  return s;
}

RegistryRef parse_registry_ref(const std::string& s) {
  auto bad = [&](const std::string& why) { return usage_error("invalid image reference \"" + s + "\": " + why); };
  if (s.empty()) throw usage_error("invalid image reference: it is empty");
  RegistryRef r;
  std::string name = s;
  if (auto at = s.find('@'); at != std::string::npos) {
    r.digest = s.substr(at + 1);
    name = s.substr(0, at);
    if (!oci::valid_digest(r.digest))
      throw bad("the digest \"" + r.digest + "\" is not sha256: and 64 lowercase hex digits");
  }
  const auto slash = name.find('/');
  if (auto colon = name.rfind(':'); colon != std::string::npos && (slash == std::string::npos || colon > name.rfind('/'))) {
    r.tag = name.substr(colon + 1);
    name.resize(colon);
    if (!valid_tag(r.tag)) throw bad("the tag \"" + r.tag + "\" is not [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}");
  }
  std::string first = name.substr(0, slash);
  const bool has_host = slash != std::string::npos &&
                        (first.find_first_of(".:") != std::string::npos || first == "localhost" || lower(first) != first);
  if (has_host) {
    if (!valid_host(first)) throw bad("\"" + first + "\" is not a registry host[:port]");
    r.registry = is_docker_hub(lower(first)) ? "docker.io" : first;
    r.repository = name.substr(slash + 1);
  } else {
    r.registry = "docker.io";
    r.repository = name;
  }
  if (r.repository.empty()) throw bad("it names no repository");
  if (r.repository.size() > 255) throw bad("the repository name is longer than 255 characters");
  for (size_t b = 0;;) {
    const size_t e = r.repository.find('/', b);
    const std::string c = r.repository.substr(b, e == std::string::npos ? std::string::npos : e - b);
    if (!valid_component(c))
      throw bad("\"" + c + "\" is not a repository path component (lowercase letters and digits, separated by . _ __ or -)");
    if (e == std::string::npos) break;
    b = e + 1;
  }
  if (r.registry == "docker.io" && r.repository.find('/') == std::string::npos) r.repository = "library/" + r.repository;
  if (r.tag.empty() && r.digest.empty()) r.tag = "latest";
  return r;
}

std::string registry_api_host(const RegistryRef& r) {
  return r.registry == "docker.io" ? "registry-1.docker.io" : r.registry;
}

// --- WWW-Authenticate (RFC 7235: challenges of a scheme and auth-params) ---

std::vector<AuthChallenge> parse_www_authenticate(std::string_view h) {
  auto bad = [&](const std::string& why) {
    return invalid_error("malformed WWW-Authenticate header \"" + std::string(h.substr(0, 200)) + "\": " + why);
  };
  auto is_tchar = [](char c) { return alnum(c) || std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos; };
  size_t i = 0;
  auto skip_ws = [&] {
    while (i < h.size() && (h[i] == ' ' || h[i] == '\t')) ++i;
  };
  auto token = [&] {
    const size_t b = i;
    while (i < h.size() && is_tchar(h[i])) ++i;
    return std::string(h.substr(b, i - b));
  };
  std::vector<AuthChallenge> out;
  for (;;) {
    while (i < h.size() && (h[i] == ' ' || h[i] == '\t' || h[i] == ',')) ++i;
    if (i == h.size()) break;
    AuthChallenge c;
    c.scheme = lower(token());
    if (c.scheme.empty()) throw bad("expected an auth scheme at offset " + std::to_string(i));
    for (;;) {
      skip_ws();
      const size_t save = i;
      std::string name = token();
      skip_ws();
      if (name.empty() || i == h.size() || h[i] != '=') {  // the next challenge's scheme
        i = save;
        break;
      }
      ++i;  // '='
      skip_ws();
      std::string value;
      if (i < h.size() && h[i] == '"') {
        ++i;
        bool closed = false;
        while (i < h.size()) {
          char ch = h[i++];
          if (ch == '"') {
            closed = true;
            break;
          }
          if (ch == '\\') {
            if (i == h.size()) break;
            ch = h[i++];
          }
          value += ch;
        }
        if (!closed) throw bad("a quoted value is not closed");
      } else {
        value = token();
      }
      c.params[lower(name)] = value;
      skip_ws();
      if (i < h.size() && h[i] == ',') ++i;
    }
    out.push_back(std::move(c));
  }
  if (out.empty()) throw bad("no challenge");
  return out;
}

std::string parse_token_reply(const std::string& body, const std::string& what) {
  const json doc = contract::parse_json(body, what);
  Field f(what, doc);
  f.require_object();
  std::string tok = f.has("token") ? f.key("token").str() : f.key("access_token").str();
  if (tok.empty() || !std::all_of(tok.begin(), tok.end(), [](char c) { return c > ' ' && c < 127; }))
    f.fail("has an empty token or one with spaces or control characters");
  return tok;
}

// --- auth.json ---

std::optional<std::string> auth_from_json(const std::string& text, const std::string& registry, const std::string& file) {
  const json doc = contract::parse_json(text, file);
  Field f(file, doc);
  f.require_object();
  if (!f.has("auths")) return std::nullopt;
  const Field auths = f.key("auths");
  auths.require_object();
  auto host_of = [](std::string key) {
    for (const char* scheme : {"https://", "http://"})
      if (key.rfind(scheme, 0) == 0) key = key.substr(std::string(scheme).size());
    key = lower(key.substr(0, key.find('/')));
    return is_docker_hub(key) ? std::string("docker.io") : key;
  };
  const std::string want = host_of(registry);
  for (const auto& [key, entry] : auths.value().items()) {
    if (host_of(key) != want) continue;
    const Field e = auths.key(key.c_str());
    e.require_object();
    if (!e.has("auth")) continue;
    std::string a = e.key("auth").str();
    const bool base64 = !a.empty() && std::all_of(a.begin(), a.end(), [](char c) {
      return alnum(c) || c == '+' || c == '/' || c == '=';
    });
    if (!base64) e.key("auth").fail("is not base64 of user:password");
    return a;
  }
  return std::nullopt;
}

std::vector<std::string> auth_file_candidates(const std::string& explicit_file) {
  std::vector<std::string> v;
  if (!explicit_file.empty()) v.push_back(explicit_file);
  auto env = [](const char* n) {
    const char* s = std::getenv(n);
    return std::string(s ? s : "");
  };
  if (!env("REGISTRY_AUTH_FILE").empty()) v.push_back(env("REGISTRY_AUTH_FILE"));
  if (!env("XDG_RUNTIME_DIR").empty()) v.push_back(env("XDG_RUNTIME_DIR") + "/containers/auth.json");
  if (!env("HOME").empty()) v.push_back(env("HOME") + "/.docker/config.json");
  return v;
}

std::optional<FoundAuth> find_registry_auth(const std::string& registry, const std::string& explicit_file) {
  for (const std::string& file : auth_file_candidates(explicit_file)) {
    struct stat st;
    if (::stat(file.c_str(), &st) != 0) {
      if (file == explicit_file) throw_sys("cannot read the auth file " + file);
      continue;
    }
    if (auto a = auth_from_json(read_file(file, 4 << 20), registry, file)) return FoundAuth{*a, file};
  }
  return std::nullopt;
}

}  // namespace pod::images
