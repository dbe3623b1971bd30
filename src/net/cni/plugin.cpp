#include "net/cni/plugin.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>

#include "net/cni/config.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"
#include "util/process.hpp"

namespace pod::cni {

namespace {

using nlohmann::json;
constexpr size_t kMaxOutput = 1 << 20;

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ' || s.back() == '\r')) s.pop_back();
  return s;
}

// CNI's well-known error codes (spec, "Error").
const char* code_meaning(int code) {
  switch (code) {
    case 1: return "incompatible CNI version";
    case 2: return "unsupported field in network configuration";
    case 3: return "container unknown or does not exist";
    case 4: return "invalid necessary environment variables";
    case 5: return "I/O failure";
    case 6: return "failed to decode content";
    case 7: return "invalid network config";
    case 11: return "try again later";
    default: return "plugin-specific error";
  }
}

// Feed `in` to the child's stdin and collect its stdout and stderr, bounded
// in size and time. Returns false on timeout.
bool exchange(int in_fd, int out_fd, int err_fd, const std::string& in, std::string& out, std::string& err,
              int timeout_ms) {
  for (int fd : {in_fd, out_fd, err_fd}) ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
  size_t written = 0;
  bool in_open = true, out_open = true, err_open = true;
  if (in.empty()) {
    ::close(in_fd);
    in_open = false;
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (out_open || err_open) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      if (in_open) ::close(in_fd);
      return false;
    }
    struct pollfd p[3] = {{in_open ? in_fd : -1, POLLOUT, 0}, {out_open ? out_fd : -1, POLLIN, 0},
                          {err_open ? err_fd : -1, POLLIN, 0}};
    if (::poll(p, 3, static_cast<int>(left.count())) < 0) {
      if (errno == EINTR) continue;
      throw_sys("poll");
    }
    if (in_open && (p[0].revents & (POLLOUT | POLLERR | POLLHUP))) {
      ssize_t n = ::write(in_fd, in.data() + written, in.size() - written);
      if (n > 0) written += static_cast<size_t>(n);
      if (n < 0 && errno != EAGAIN && errno != EINTR) written = in.size();  // EPIPE: the plugin does not read
      if (written == in.size()) {
        ::close(in_fd);
        in_open = false;
      }
    }
    for (int k = 1; k <= 2; ++k) {
      if (!(p[k].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      std::string& buf = k == 1 ? out : err;
      char chunk[8192];
      ssize_t n = ::read(p[k].fd, chunk, sizeof chunk);
      if (n > 0 && buf.size() < kMaxOutput) buf.append(chunk, static_cast<size_t>(std::min<size_t>(n, kMaxOutput - buf.size())));
      if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) (k == 1 ? out_open : err_open) = false;
    }
  }
  if (in_open) ::close(in_fd);
  return true;
}

std::string failure_text(const std::string& out, const std::string& err) {
  try {
    const json e = json::parse(out);
    if (e.is_object() && e.contains("code")) {
      std::string s = e.value("msg", std::string("(no message)"));
      const std::string details = e.contains("details") && e["details"].is_string() ? e["details"].get<std::string>() : "";
      if (!details.empty()) s += ": " + details;
      const int code = e["code"].is_number_integer() ? e["code"].get<int>() : -1;
      return s + " (CNI error " + std::to_string(code) + ": " + code_meaning(code) + ")";
    }
  } catch (const json::exception&) {
    // not an error object: fall back to stderr
  }
  const std::string e = trim(err);
  if (!e.empty()) return e.size() > 2000 ? e.substr(e.size() - 2000) : e;
  return trim(out).substr(0, 2000);
}

std::string join(const std::vector<std::string>& v, char sep) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : std::string(1, sep)) + x;
  return s;
}

bool version_at_least(const std::string& v, int major, int minor) {
  int a = 0, b = 0;
  std::sscanf(v.c_str(), "%d.%d", &a, &b);
  return a > major || (a == major && b >= minor);
}

std::vector<std::string> strings_of(const json& j, const char* key) {
  std::vector<std::string> v;
  if (!j.contains(key) || !j[key].is_array()) return v;
  for (const auto& s : j[key])
    if (s.is_string()) v.push_back(s.get<std::string>());
  return v;
}

}  // namespace

json exec_plugin(const std::string& type, const json& conf, const Invocation& inv, const std::string& what) {
  const std::string binary = find_plugin(type, inv.path);
  if (binary.empty()) throw Error(what + ": unknown plugin \"" + type + "\" (no executable in " + join(inv.path, ':') + ")");
  int pin[2], pout[2], perr[2];
  if (::pipe2(pin, O_CLOEXEC) < 0) throw_sys("pipe");
  UniqueFd in_r(pin[0]), in_w(pin[1]);
  if (::pipe2(pout, O_CLOEXEC) < 0) throw_sys("pipe");
  UniqueFd out_r(pout[0]), out_w(pout[1]);
  if (::pipe2(perr, O_CLOEXEC) < 0) throw_sys("pipe");
  UniqueFd err_r(perr[0]), err_w(perr[1]);
  ChildOptions o;
  o.in = Redirect::to_fd(in_r.get());
  o.out = Redirect::to_fd(out_w.get());
  o.err = Redirect::to_fd(err_w.get());
  const char* path_env = std::getenv("PATH");
  o.env = std::vector<std::string>{
      "CNI_COMMAND=" + inv.command, "CNI_CONTAINERID=" + inv.container_id, "CNI_NETNS=" + inv.netns,
      "CNI_IFNAME=" + inv.ifname,   "CNI_ARGS=" + inv.args,                 "CNI_PATH=" + join(inv.path, ':'),
      // iptables, ip6tables and friends, which ptp and portmap run
      std::string("PATH=") + (path_env && *path_env ? path_env : "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")};
  o.cwd = "/";
  Child child = Child::start({binary}, o);
  in_r.reset();
  out_w.reset();
  err_w.reset();
  std::string out, err;
  const int in_fd = in_w.release();
  const bool done = exchange(in_fd, out_r.get(), err_r.get(), conf.dump(), out, err, inv.timeout_ms);
  if (!done) {
    child.kill_and_wait();
    throw Error(what + ": plugin " + type + " " + inv.command + " did not finish within " +
                std::to_string(inv.timeout_ms / 1000) + " s (killed)");
  }
  const int rc = child.wait();
  if (rc != 0)
    throw Error(what + ": plugin " + type + " " + inv.command + " failed: " + failure_text(out, err));
  if (trim(out).empty()) return nullptr;
  try {
    return json::parse(out);
  } catch (const json::exception& e) {
    throw invalid_error(what + ": plugin " + type + " " + inv.command + " printed malformed JSON: " + e.what());
  }
}

Result parse_result(const json& j, const std::string& what) {
  if (!j.is_object()) throw invalid_error(what + ": the result is not a JSON object");
  Result r;
  r.cni_version = j.value("cniVersion", "");
  auto str = [&](const json& o, const char* k, const std::string& field) -> std::string {
    if (!o.contains(k) || o[k].is_null()) return "";
    if (!o[k].is_string()) throw invalid_error(what + ": result " + field + "." + k + ": expected a string");
    return o[k].get<std::string>();
  };
  try {
    if (j.contains("interfaces") && j["interfaces"].is_array())
      for (size_t i = 0; i < j["interfaces"].size(); ++i) {
        const json& x = j["interfaces"][i];
        const std::string f = "interfaces[" + std::to_string(i) + "]";
        r.interfaces.push_back({str(x, "name", f), str(x, "mac", f), str(x, "sandbox", f)});
      }
    if (j.contains("ips") && j["ips"].is_array())
      for (size_t i = 0; i < j["ips"].size(); ++i) {
        const json& x = j["ips"][i];
        const std::string f = "ips[" + std::to_string(i) + "]";
        // 0.3.x/0.4.0 also carry "version": "4"|"6"; 1.0.0 dropped it.
        Result::Ip ip{str(x, "address", f), str(x, "gateway", f), -1};
        if (ip.address.empty()) throw invalid_error(what + ": result " + f + ".address is missing");
        if (x.contains("interface") && x["interface"].is_number_integer()) {
          ip.interface = x["interface"].get<int>();
          if (ip.interface < 0 || static_cast<size_t>(ip.interface) >= r.interfaces.size())
            throw invalid_error(what + ": result " + f + ".interface: no interface " + std::to_string(ip.interface));
        }
        r.ips.push_back(ip);
      }
    if (j.contains("routes") && j["routes"].is_array())
      for (size_t i = 0; i < j["routes"].size(); ++i) {
        const std::string f = "routes[" + std::to_string(i) + "]";
        r.routes.push_back({str(j["routes"][i], "dst", f), str(j["routes"][i], "gw", f)});
      }
    if (j.contains("dns") && j["dns"].is_object()) {
      const json& d = j["dns"];
      r.nameservers = strings_of(d, "nameservers");
      r.search = strings_of(d, "search");
      r.options = strings_of(d, "options");
      r.domain = str(d, "domain", "dns");
    }
  } catch (const json::exception& e) {
    throw invalid_error(what + ": malformed result: " + e.what());
  }
  return r;
}

json to_json(const Result& r) {
  json ifs = json::array(), ips = json::array(), routes = json::array();
  for (const auto& i : r.interfaces) ifs.push_back({{"name", i.name}, {"mac", i.mac}, {"sandbox", i.sandbox}});
  for (const auto& i : r.ips) {
    json x = {{"address", i.address}};
    if (!i.gateway.empty()) x["gateway"] = i.gateway;
    if (i.interface >= 0) x["interface"] = i.interface;
    ips.push_back(x);
  }
  for (const auto& rt : r.routes) {
    json x = {{"dst", rt.dst}};
    if (!rt.gw.empty()) x["gw"] = rt.gw;
    routes.push_back(x);
  }
  return {{"interfaces", ifs}, {"ips", ips}, {"routes", routes},
          {"dns", {{"nameservers", r.nameservers}, {"search", r.search}, {"options", r.options}, {"domain", r.domain}}}};
}

json plugin_conf(const json& conflist, size_t index, const json& prev_result, const json& runtime_config) {
  json conf = conflist["plugins"][index];
  conf["name"] = conflist["name"];
  conf["cniVersion"] = conflist["cniVersion"];
  if (!prev_result.is_null()) conf["prevResult"] = prev_result;
  else conf.erase("prevResult");
  json rc = json::object();
  if (conf.contains("capabilities") && conf["capabilities"].is_object())
    for (const auto& [cap, on] : conf["capabilities"].items())
      if (on.is_boolean() && on.get<bool>() && runtime_config.contains(cap)) rc[cap] = runtime_config[cap];
  if (!rc.empty()) conf["runtimeConfig"] = rc;
  else conf.erase("runtimeConfig");
  return conf;
}

json add_list(const json& conflist, Invocation inv, const json& runtime_config, const std::string& what) {
  inv.command = "ADD";
  json prev = nullptr;
  for (size_t i = 0; i < conflist["plugins"].size(); ++i) {
    const std::string type = conflist["plugins"][i]["type"].get<std::string>();
    json res = exec_plugin(type, plugin_conf(conflist, i, prev, runtime_config), inv, what);
    if (res.is_null()) throw invalid_error(what + ": plugin " + type + " ADD printed no result");
    (void)parse_result(res, what + ": plugin " + type);
    prev = std::move(res);
  }
  return prev;
}

void del_list(const json& conflist, Invocation inv, const json& runtime_config, const json& prev_result,
              const std::string& what) {
  inv.command = "DEL";
  const std::string version = conflist.value("cniVersion", "");
  const json prev = version_at_least(version, 0, 4) ? prev_result : json();
  std::optional<Error> first;
  for (size_t i = conflist["plugins"].size(); i-- > 0;) {
    const std::string type = conflist["plugins"][i]["type"].get<std::string>();
    try {
      exec_plugin(type, plugin_conf(conflist, i, prev, runtime_config), inv, what);
    } catch (const Error& e) {
      if (!first) first = e;
    }
  }
  if (first) throw *first;
}

void check_list(const json& conflist, Invocation inv, const json& runtime_config, const json& prev_result,
                const std::string& what) {
  inv.command = "CHECK";
  if (!version_at_least(conflist.value("cniVersion", ""), 0, 4) || conflist.value("disableCheck", false)) return;
  if (prev_result.is_null()) throw Error(what + ": CHECK needs the result of ADD, which is not recorded");
  for (size_t i = 0; i < conflist["plugins"].size(); ++i) {
    const std::string type = conflist["plugins"][i]["type"].get<std::string>();
    exec_plugin(type, plugin_conf(conflist, i, prev_result, runtime_config), inv, what);
  }
}

std::vector<std::string> plugin_versions(const std::string& type, const std::vector<std::string>& path) {
  Invocation inv;
  inv.command = "VERSION";
  inv.path = path;
  const json r = exec_plugin(type, {{"cniVersion", "1.0.0"}}, inv, "plugin " + type);
  if (!r.is_object() || !r.contains("supportedVersions") || !r["supportedVersions"].is_array())
    throw invalid_error("plugin " + type + " VERSION: no supportedVersions in its answer");
  return strings_of(r, "supportedVersions");
}

}  // namespace pod::cni
