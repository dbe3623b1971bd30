#include "contract/apporder.hpp"

#include <algorithm>
#include <functional>
#include <map>

#include "appc/names.hpp"
#include "util/error.hpp"

namespace pod::contract {

namespace {
const std::string* annotation(const std::vector<NameValue>& anns, const char* name) {
  for (const auto& a : anns)
    if (a.name == name) return &a.value;
  return nullptr;
}
}  // namespace

bool is_sandbox(const PodManifest& m) {
  const std::string* v = annotation(m.annotations, kAnnSandbox);
  return v && *v == "true";
}

std::vector<AfterEntry> parse_after_entries(const std::string& value, const std::string& what) {
  std::vector<AfterEntry> out;
  size_t i = 0;
  while (i <= value.size()) {
    size_t j = value.find(',', i);
    if (j == std::string::npos) j = value.size();
    std::string name = value.substr(i, j - i);
    AfterEntry e;
    if (const size_t colon = name.find(':'); colon != std::string::npos) {
      if (name.substr(colon + 1) != "ready")
        throw usage_error(what + " " + name + ": the condition after ':' can only be \"ready\" (NAME or NAME:ready)");
      e.ready = true;
      name.resize(colon);
    }
    if (name.empty() || !appc::is_ac_name(name)) throw usage_error(what + ": \"" + name + "\" is not an app name");
    e.name = name;
    out.push_back(std::move(e));
    i = j + 1;
  }
  return out;
}

std::vector<std::string> parse_after(const std::string& value, const std::string& what) {
  std::vector<std::string> out;
  for (auto& e : parse_after_entries(value, what)) out.push_back(std::move(e.name));
  return out;
}

std::vector<AfterEntry> app_after_entries(const RuntimeApp& a) {
  const std::string* v = annotation(a.annotations, kAnnAfter);
  if (!v) return {};
  return parse_after_entries(*v, "app " + a.name + ": annotation " + kAnnAfter);
}

std::vector<std::string> app_after(const RuntimeApp& a) {
  std::vector<std::string> out;
  for (auto& e : app_after_entries(a)) out.push_back(std::move(e.name));
  return out;
}

std::vector<std::string> app_brought_volumes(const RuntimeApp& a) {
  std::vector<std::string> out;
  for (const auto& nv : a.annotations) {
    if (nv.name != kAnnVolumes) continue;
    size_t i = 0;
    while (i <= nv.value.size()) {
      const size_t j = std::min(nv.value.find(',', i), nv.value.size());
      if (j > i) out.push_back(nv.value.substr(i, j - i));
      i = j + 1;
    }
  }
  return out;
}

std::vector<std::string> app_own_volumes(const PodManifest& m, const std::string& app) {
  std::vector<std::string> out;
  const RuntimeApp* ra = m.app(app);
  if (!ra) return out;
  for (const auto& v : app_brought_volumes(*ra)) {
    bool shared = false;
    for (const auto& other : m.apps)
      for (const auto& mt : other.mounts) shared |= other.name != app && mt.volume == v;
    if (!shared) out.push_back(v);
  }
  return out;
}

std::vector<std::string> app_after_ready(const RuntimeApp& a) {
  std::vector<std::string> out;
  for (auto& e : app_after_entries(a))
    if (e.ready) out.push_back(std::move(e.name));
  return out;
}

void check_app_order(const PodManifest& m) {
  std::map<std::string, std::vector<std::string>> deps;
  for (const auto& a : m.apps) deps[a.name] = app_after(a);
  for (const auto& [name, after] : deps)
    for (const auto& d : after) {
      if (d == name) throw usage_error("app " + name + " cannot start after itself (--after " + d + ")");
      if (!deps.count(d)) throw usage_error("app " + name + ": --after " + d + ": the pod has no app named \"" + d + "\"");
    }
  // Depth-first, in manifest order: a grey node met again closes a cycle.
  std::map<std::string, int> color;  // 0 white, 1 on the path, 2 done
  std::vector<std::string> path;
  std::function<void(const std::string&)> visit = [&](const std::string& n) {
    color[n] = 1;
    path.push_back(n);
    for (const auto& d : deps[n]) {
      if (color[d] == 1) {
        std::string cycle;
        bool on = false;
        for (const auto& p : path) {
          on = on || p == d;
          if (on) cycle += p + " -> ";
        }
        throw usage_error("app ordering has a cycle: " + cycle + d + " (--after)");
      }
      if (color[d] == 0) visit(d);
    }
    path.pop_back();
    color[n] = 2;
  };
  for (const auto& a : m.apps)
    if (color[a.name] == 0) visit(a.name);
}

std::vector<size_t> start_order(const AppDeps& apps) {
  std::vector<size_t> order;
  std::vector<bool> placed(apps.size(), false);
  std::map<std::string, size_t> index;
  for (size_t i = 0; i < apps.size(); ++i) index[apps[i].first] = i;
  std::function<void(size_t)> place = [&](size_t i) {
    if (placed[i]) return;
    placed[i] = true;  // no cycles (check_app_order): a placed app is never met again on its own path
    for (const auto& d : apps[i].second)
      if (auto it = index.find(d); it != index.end()) place(it->second);
    order.push_back(i);
  };
  for (size_t i = 0; i < apps.size(); ++i) place(i);
  return order;
}

}  // namespace pod::contract
