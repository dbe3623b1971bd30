#include "isolators/isolators.hpp"

#include <seccomp.h>
#include <sys/capability.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <limits>
#include <map>
#include <set>

#include "util/error.hpp"
#include "util/split.hpp"

namespace pod::isolators {

namespace {

using json = nlohmann::json;

// Errors name where the value came from: a flag ("--memory=lots") or an
// image's or manifest's isolator ("image example.com/x: isolator resource/memory").
[[noreturn]] void bad(const std::string& ctx, const std::string& what) { throw invalid_error(ctx + ": " + what); }

std::string shown(const json& v) { return v.is_string() ? "\"" + v.get<std::string>().substr(0, 64) + "\"" : v.dump().substr(0, 64); }

const json* member(const json& v, const char* k) {
  if (!v.is_object()) return nullptr;
  auto it = v.find(k);
  return it == v.end() || it->is_null() ? nullptr : &*it;
}

void require_object(const json& v, const std::string& ctx) {
  if (!v.is_object()) bad(ctx, "the value must be an object, not " + shown(v));
}

std::optional<uint64_t> size_value(const json& v) {
  if (v.is_number_unsigned()) return v.get<uint64_t>();
  if (v.is_string()) return parse_quantity(v.get<std::string>());
  return std::nullopt;
}

std::optional<uint64_t> cpu_value(const json& v) {
  if (v.is_number_unsigned() && v.get<uint64_t>() <= 1000000) return v.get<uint64_t>() * 1000;
  if (v.is_string()) return parse_cpu_milli(v.get<std::string>());
  return std::nullopt;
}

int64_t int_value(const json& v, int64_t lo, int64_t hi, const std::string& ctx) {
  if (!v.is_number_integer() || v.get<int64_t>() < lo || v.get<int64_t>() > hi ||
      (v.is_number_unsigned() && v.get<uint64_t>() > static_cast<uint64_t>(hi)))
    bad(ctx, shown(v) + " is not a whole number from " + std::to_string(lo) + " to " + std::to_string(hi));
  return v.get<int64_t>();
}

std::vector<std::string> string_set(const json& v, const std::string& ctx) {
  require_object(v, ctx);
  const json* set = member(v, "set");
  if (!set || !set->is_array()) bad(ctx, "needs \"set\": a list of names");
  std::vector<std::string> out;
  for (const auto& e : *set) {
    if (!e.is_string() || e.get<std::string>().empty()) bad(ctx, "set: " + shown(e) + " is not a name");
    out.push_back(e.get<std::string>());
  }
  return out;
}

std::vector<int> capability_set(const json& v, const std::string& ctx) {
  std::vector<int> out;
  for (const auto& n : string_set(v, ctx)) {
    auto c = capability(n);
    if (!c) bad(ctx, "unknown capability \"" + n.substr(0, 64) + "\"");
    out.push_back(*c);
  }
  return out;
}

void add_syscall(Seccomp& s, const std::string& name, bool from_group, const std::string& ctx) {
  const int nr = seccomp_syscall_resolve_name(name.c_str());
  if (nr == __NR_SCMP_ERROR) {
    if (from_group) return;  // a group's call this architecture does not have
    bad(ctx, "unknown system call \"" + name.substr(0, 64) + "\"");
  }
  if (std::find(s.syscalls.begin(), s.syscalls.end(), nr) == s.syscalls.end()) s.syscalls.push_back(nr);
}

Seccomp seccomp_set(const json& v, bool retain, const std::string& ctx) {
  Seccomp s;
  s.retain = retain;
  s.set = string_set(v, ctx);
  if (s.set.empty()) bad(ctx, "set must name at least one system call or @group");
  if (const json* e = member(v, "errno")) {
    if (!e->is_string()) bad(ctx, "errno: " + shown(*e) + " is not an errno name like EPERM");
    s.errno_name = e->get<std::string>();
    auto n = errno_value(s.errno_name);
    if (!n) bad(ctx, "errno: unknown errno name \"" + s.errno_name.substr(0, 64) + "\"");
    s.errnum = *n;
  }
  for (const auto& n : s.set) {
    if (n == "@appc.io/all") {
      if (!retain) bad(ctx, "@appc.io/all can only be retained");
      s.all = true;
    } else if (n == "@appc.io/empty") {
      continue;
    } else if (n[0] == '@') {
      auto g = seccomp_group(n);
      if (!g) bad(ctx, "unknown system call group \"" + n.substr(0, 64) + "\" (Documentation/isolation.md)");
      for (const auto& c : *g) add_syscall(s, c, true, ctx);
    } else {
      add_syscall(s, n, false, ctx);
    }
  }
  return s;
}

void parse_one(Isolators& out, const contract::Isolator& iso, const std::string& ctx) {
  const json& v = iso.value;
  const std::string& n = iso.name;
  if (n == kMemory || n == kCpu) {
    require_object(v, ctx);
    const bool mem = n == kMemory;
    auto read = [&](const char* key, std::optional<uint64_t>& into) {
      const json* x = member(v, key);
      if (!x) return;
      into = mem ? size_value(*x) : cpu_value(*x);
      if (!into || *into == 0)
        bad(ctx, std::string(key) + " " + shown(*x) +
                     (mem ? " is not a size (a positive number of bytes, optionally with k, M, G, Ki, Mi or Gi)"
                          : " is not a CPU amount (like 500m, 1 or 1.5)"));
    };
    read("limit", mem ? out.memory_limit : out.cpu_limit_milli);
    read("request", mem ? out.memory_request : out.cpu_request_milli);
    if (!member(v, "limit") && !member(v, "request")) bad(ctx, "needs a \"limit\" or a \"request\"");
  } else if (n == kPids) {
    require_object(v, ctx);
    const json* x = member(v, "limit");
    if (!x) bad(ctx, "needs a \"limit\"");
    out.pids_limit = static_cast<uint64_t>(int_value(*x, 1, 4194304, ctx + ": limit"));
  } else if (n == kCpuShares) {
    out.cpu_shares = static_cast<uint64_t>(int_value(v, 2, 262144, ctx));
  } else if (n == kOomScoreAdj) {
    out.oom_score_adj = static_cast<int>(int_value(v, -1000, 1000, ctx));
  } else if (n == kNoNewPrivs) {
    if (!v.is_boolean()) bad(ctx, shown(v) + " is not true or false");
    out.no_new_privs = v.get<bool>();
  } else if (n == kCapsRetain || n == kCapsRemove) {
    if (out.caps_retain || out.caps_remove) bad(ctx, "only one capabilities retain or remove set may be given");
    (n == kCapsRetain ? out.caps_retain : out.caps_remove) = capability_set(v, ctx);
  } else if (n == kSeccompRetain || n == kSeccompRemove) {
    if (out.seccomp) bad(ctx, "only one seccomp retain or remove set may be given");
    out.seccomp = seccomp_set(v, n == kSeccompRetain, ctx);
  }
}

// Syscall groups for seccomp sets (systemd's names where they exist; Documentation/isolation.md).
const std::map<std::string, std::vector<std::string>>& groups() {
  static const std::map<std::string, std::vector<std::string>> g = {
      {"@chown", {"chown", "chown32", "fchown", "fchown32", "fchownat", "lchown", "lchown32"}},
      {"@clock", {"adjtimex", "clock_adjtime", "clock_adjtime64", "clock_settime", "clock_settime64", "settimeofday", "stime"}},
      {"@cpu-emulation", {"modify_ldt", "subpage_prot", "switch_endian", "vm86", "vm86old"}},
      {"@debug", {"lookup_dcookie", "perf_event_open", "pidfd_getfd", "ptrace", "process_vm_readv", "process_vm_writev",
                  "rtas", "s390_runtime_instr", "sys_debug_setcontext"}},
      {"@keyring", {"add_key", "keyctl", "request_key"}},
      {"@module", {"delete_module", "finit_module", "init_module"}},
      {"@mount", {"chroot", "fsconfig", "fsmount", "fsopen", "fspick", "mount", "mount_setattr", "move_mount", "open_tree",
                  "pivot_root", "umount", "umount2"}},
      {"@raw-io", {"ioperm", "iopl", "pciconfig_iobase", "pciconfig_read", "pciconfig_write", "s390_pci_mmio_read",
                   "s390_pci_mmio_write"}},
      {"@reboot", {"kexec_file_load", "kexec_load", "reboot"}},
      {"@swap", {"swapoff", "swapon"}},
  };
  return g;
}

bool has_digits_only(const std::string& s) { return !s.empty() && s.find_first_not_of("0123456789") == std::string::npos; }

}  // namespace

const std::vector<std::string>& known_names() {
  static const std::vector<std::string> v = {kMemory,     kCpu,          kPids,          kCapsRetain, kCapsRemove,
                                             kNoNewPrivs, kSeccompRetain, kSeccompRemove, kOomScoreAdj, kCpuShares};
  return v;
}

bool is_appc_unimplemented(const std::string& name) {
  static const std::set<std::string> s = {"resource/block-bandwidth", "resource/block-iops", "resource/network-bandwidth",
                                          "os/linux/selinux-context", "os/linux/apparmor-profile"};
  return s.count(name) > 0;
}

Isolators parse(const std::vector<contract::Isolator>& isos, const std::string& where, std::vector<std::string>* warnings) {
  Isolators out;
  std::set<std::string> seen;
  for (const auto& iso : isos) {
    const std::string ctx = where + ": isolator " + iso.name;
    const auto& known = known_names();
    if (std::find(known.begin(), known.end(), iso.name) == known.end()) {
      if (warnings)
        warnings->push_back(ctx + (is_appc_unimplemented(iso.name) ? ": not implemented, ignored" : ": unknown isolator, ignored"));
      continue;
    }
    if (!seen.insert(iso.name).second) bad(ctx, "is given twice");
    parse_one(out, iso, ctx);
  }
  return out;
}

std::optional<uint64_t> parse_quantity(const std::string& s) {
  size_t i = 0;
  while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) ++i;
  if (i == 0 || i > 19) return std::nullopt;
  static const std::map<std::string, uint64_t> units = {
      {"", 1},          {"k", 1000},          {"K", 1000},          {"M", 1000000},      {"G", 1000000000},
      {"T", 1000000000000}, {"Ki", 1ull << 10}, {"Mi", 1ull << 20}, {"Gi", 1ull << 30}, {"Ti", 1ull << 40}};
  auto u = units.find(s.substr(i));
  if (u == units.end()) return std::nullopt;
  const uint64_t n = std::stoull(s.substr(0, i));
  if (n > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) / u->second) return std::nullopt;
  return n * u->second;
}

std::optional<uint64_t> parse_cpu_milli(const std::string& s) {
  if (s.size() > 1 && s.back() == 'm') {
    const std::string d = s.substr(0, s.size() - 1);
    if (!has_digits_only(d) || d.size() > 9) return std::nullopt;
    return std::stoull(d);
  }
  const size_t dot = s.find('.');
  const std::string whole = s.substr(0, dot), frac = dot == std::string::npos ? "" : s.substr(dot + 1);
  if (!has_digits_only(whole) || whole.size() > 6) return std::nullopt;
  if (dot != std::string::npos && (!has_digits_only(frac) || frac.size() > 3)) return std::nullopt;
  return std::stoull(whole) * 1000 + (frac.empty() ? 0 : std::stoull((frac + "00").substr(0, 3)));
}

std::optional<int> capability(const std::string& name) {
  std::string n = name;
  std::transform(n.begin(), n.end(), n.begin(), [](unsigned char c) { return std::tolower(c); });
  if (n.rfind("cap_", 0) != 0) n = "cap_" + n;
  if (has_digits_only(n.substr(4))) return std::nullopt;  // libcap reads "cap_12" as a number too
  cap_value_t v;
  if (cap_from_name(n.c_str(), &v) != 0) return std::nullopt;
  return static_cast<int>(v);
}

std::string capability_name(int cap) {
  char* n = cap_to_name(static_cast<cap_value_t>(cap));
  std::string s = n ? n : std::to_string(cap);
  cap_free(n);
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::toupper(c); });
  return s;
}

std::optional<int> errno_value(const std::string& name) {
  for (int e = 1; e < 4096; ++e)
    if (const char* n = strerrorname_np(e); n && name == n) return e;
  return std::nullopt;
}

std::optional<std::vector<std::string>> seccomp_group(const std::string& name) {
  auto it = groups().find(name);
  if (it == groups().end()) return std::nullopt;
  return it->second;
}

contract::Isolator from_flag(const std::string& flag, const std::string& value) {
  const std::string ctx = flag + "=" + value.substr(0, 64);
  auto list = [&](const std::string& s) {
    json set = json::array();
    for (const auto& n : split(s, ',')) {
      if (n.empty()) throw usage_error(ctx + ": empty name in the list");
      set.push_back(n);
    }
    return set;
  };
  contract::Isolator iso;
  if (flag == "--memory") iso = {kMemory, {{"limit", value}}};
  else if (flag == "--cpu") iso = {kCpu, {{"limit", value}}};
  else if (flag == "--cpu-shares" || flag == "--pids-limit" || flag == "--oom-score-adj") {
    const bool neg = !value.empty() && value[0] == '-';
    if (!has_digits_only(neg ? value.substr(1) : value) || value.size() > 10)
      throw usage_error(ctx + ": not a whole number");
    const json n = neg ? json(std::stoll(value)) : json(std::stoull(value));
    if (flag == "--pids-limit") iso = {kPids, {{"limit", n}}};
    else iso = {flag == "--cpu-shares" ? kCpuShares : kOomScoreAdj, n};
  } else if (flag == "--caps-retain" || flag == "--caps-remove") {
    iso = {flag == "--caps-retain" ? kCapsRetain : kCapsRemove, {{"set", list(value)}}};
  } else if (flag == "--seccomp") {
    // mode=retain|remove[,errno=ENAME],NAME|@group,…
    json set = list(value);
    std::string mode;
    json v = json::object();
    json names = json::array();
    for (const auto& e : set) {
      const std::string s = e.get<std::string>();
      if (s.rfind("mode=", 0) == 0) mode = s.substr(5);
      else if (s.rfind("errno=", 0) == 0) v["errno"] = s.substr(6);
      else names.push_back(s);
    }
    if (mode != "retain" && mode != "remove") throw usage_error(ctx + ": needs mode=retain or mode=remove");
    v["set"] = names;
    iso = {mode == "retain" ? kSeccompRetain : kSeccompRemove, v};
  } else {
    throw usage_error(ctx + ": not an isolator flag");
  }
  Isolators check;
  try {
    parse_one(check, iso, ctx);
  } catch (const Error& e) {
    throw usage_error(e.what());  // a flag's bad value is a usage error (exit code 2)
  }
  return iso;
}

namespace {
std::vector<contract::Isolator> from_flags(const Flags& f) {
  if (f.caps_retain && f.caps_remove) throw usage_error("give only one of --caps-retain and --caps-remove");
  std::vector<contract::Isolator> given;
  auto add = [&](const char* flag, const std::optional<std::string>& v) {
    if (v) given.push_back(from_flag(flag, *v));
  };
  add("--memory", f.memory);
  add("--cpu", f.cpu);
  add("--cpu-shares", f.cpu_shares);
  add("--pids-limit", f.pids_limit);
  add("--caps-retain", f.caps_retain);
  add("--caps-remove", f.caps_remove);
  add("--seccomp", f.seccomp);
  add("--oom-score-adj", f.oom_score_adj);
  return given;
}

// `under` without the isolators whose kind `over` sets, then `over` (a capability or seccomp isolator
// replaces both sets of its kind).
std::vector<contract::Isolator> overlay(const std::vector<contract::Isolator>& under,
                                        const std::vector<contract::Isolator>& over) {
  auto family = [](const std::string& n) {
    if (n == kCapsRetain || n == kCapsRemove) return std::string("caps");
    if (n == kSeccompRetain || n == kSeccompRemove) return std::string("seccomp");
    return n;
  };
  std::vector<contract::Isolator> out;
  for (const auto& i : under) {
    bool replaced = false;
    for (const auto& g : over) replaced = replaced || family(g.name) == family(i.name);
    if (!replaced) out.push_back(i);
  }
  out.insert(out.end(), over.begin(), over.end());
  return out;
}
}  // namespace

std::vector<contract::Isolator> merge(const std::vector<contract::Isolator>& image, const Flags& f,
                                      const Flags& defaults) {
  return overlay(overlay(from_flags(defaults), image), from_flags(f));
}

std::string describe(const contract::Isolator& iso) {
  const json& v = iso.value;
  std::string s = iso.name;
  if (v.is_object()) {
    for (const auto& [k, x] : v.items()) {
      std::string val;
      if (x.is_array())
        for (const auto& e : x) val += (val.empty() ? "" : ",") + (e.is_string() ? e.get<std::string>() : e.dump());
      else val = x.is_string() ? x.get<std::string>() : x.dump();
      s += " " + k + "=" + val;
    }
  } else {
    s += " " + v.dump();
  }
  return s;
}

}  // namespace pod::isolators
