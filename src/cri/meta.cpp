#include "cri/meta.hpp"

#include <nlohmann/json.hpp>

#include "util/error.hpp"

namespace pod::cri {

using json = nlohmann::json;

std::string to_json(const SandboxMeta& m) {
  return json{{"name", m.name}, {"uid", m.uid}, {"namespace", m.ns}, {"attempt", m.attempt}, {"labels", m.labels},
              {"annotations", m.annotations}, {"logDirectory", m.log_directory},
              {"runtimeHandler", m.runtime_handler}}.dump();
}

std::string to_json(const ContainerMeta& m) {
  return json{{"name", m.name}, {"attempt", m.attempt}, {"labels", m.labels}, {"annotations", m.annotations},
              {"image", m.image}, {"logPath", m.log_path}, {"createdAt", m.created_at}}.dump();
}

namespace {

std::optional<std::string> annotation(const json& owner, const char* name) {
  auto a = owner.find("annotations");
  if (a == owner.end() || !a->is_array()) return std::nullopt;
  for (const auto& nv : *a)
    if (nv.is_object() && nv.value("name", "") == name && nv.contains("value") && nv["value"].is_string())
      return nv["value"].get<std::string>();
  return std::nullopt;
}

// pod wrote these annotations itself; a malformed one is a damaged record (Invalid).
SandboxMeta sandbox_meta(const std::string& text) {
  const json j = json::parse(text);
  SandboxMeta m;
  m.name = j.at("name");
  m.uid = j.at("uid");
  m.ns = j.at("namespace");
  m.attempt = j.at("attempt");
  m.labels = j.at("labels").get<std::map<std::string, std::string>>();
  m.annotations = j.at("annotations").get<std::map<std::string, std::string>>();
  m.log_directory = j.at("logDirectory");
  m.runtime_handler = j.at("runtimeHandler");
  return m;
}

ContainerMeta container_meta(const std::string& text) {
  const json j = json::parse(text);
  ContainerMeta m;
  m.name = j.at("name");
  m.attempt = j.at("attempt");
  m.labels = j.at("labels").get<std::map<std::string, std::string>>();
  m.annotations = j.at("annotations").get<std::map<std::string, std::string>>();
  m.image = j.at("image");
  m.log_path = j.at("logPath");
  m.created_at = j.at("createdAt");
  return m;
}

}  // namespace

std::optional<Sandbox> read_sandbox(const pod::Runtime& rt, const PodStatus& st) {
  if (!st.manifest_error.empty() || st.state == PodState::Gone) return std::nullopt;
  std::string text;
  try {
    text = rt.pod_manifest(st.uuid);
  } catch (const pod::Error& e) {
    if (e.kind() == ErrorKind::NotFound) return std::nullopt;  // removed meanwhile
    throw;
  }
  const json m = json::parse(text);
  auto meta = annotation(m, kAnnSandbox);
  if (!meta) return std::nullopt;
  Sandbox s{st, sandbox_meta(*meta), {}};
  for (const auto& app : m.value("apps", json::array()))
    if (auto c = annotation(app, kAnnContainer)) s.containers[app.value("name", "")] = container_meta(*c);
  return s;
}

Sandbox find_sandbox(const pod::Runtime& rt, const std::string& id) {
  if (id.empty()) throw usage_error("the sandbox ID is empty");
  auto s = read_sandbox(rt, rt.pod_status(rt.resolve_pod(id)));
  if (!s) throw Error("no CRI sandbox " + id, ENOENT, ErrorKind::NotFound).with_item(id);
  return *s;
}

std::optional<Sandbox> find_sandbox_if_any(const pod::Runtime& rt, const std::string& id) {
  try {
    return find_sandbox(rt, id);
  } catch (const pod::Error& e) {
    if (e.kind() != ErrorKind::NotFound) throw;
    return std::nullopt;
  }
}

std::pair<Sandbox, ContainerMeta> find_container(const pod::Runtime& rt, const std::string& id) {
  const ContainerId cid = parse_container_id(id);
  Sandbox s = find_sandbox(rt, cid.uuid);
  auto it = s.containers.find(cid.app);
  if (it == s.containers.end()) throw Error("no container " + id, ENOENT, ErrorKind::NotFound).with_item(id);
  ContainerMeta m = it->second;
  return {std::move(s), std::move(m)};
}

ContainerId running_container(const pod::Runtime& rt, const std::string& id, const std::string& rpc) {
  find_container(rt, id);
  ContainerId cid = parse_container_id(id);
  if (rt.app_status(cid.uuid, cid.app).state != "running")
    throw Error(rpc + ": container " + id + " is not running", 0, ErrorKind::Conflict).with_item(id);
  return cid;
}

std::vector<Sandbox> list_sandboxes(const pod::Runtime& rt) {
  std::vector<Sandbox> out;
  for (const auto& st : rt.list_pods())
    if (auto s = read_sandbox(rt, st)) out.push_back(std::move(*s));
  return out;
}

std::string container_id(const std::string& uuid, const std::string& app) { return uuid + "_" + app; }

ContainerId parse_container_id(const std::string& id) {
  const auto sep = id.find('_');
  if (id.empty() || sep == std::string::npos || sep == 0 || sep + 1 == id.size())
    throw Error("no container " + id + " (container IDs are SANDBOX_APP)", ENOENT, ErrorKind::NotFound).with_item(id);
  return {id.substr(0, sep), id.substr(sep + 1)};
}

std::string app_name_for(const std::string& name, uint32_t attempt) {
  std::string out;
  for (char c : name) {
    const char l = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    const bool ok = (l >= 'a' && l <= 'z') || (l >= '0' && l <= '9');
    if (ok) out += l;
    else if (!out.empty() && out.back() != '-') out += '-';
  }
  while (!out.empty() && out.back() == '-') out.pop_back();
  if (out.empty()) throw usage_error("container name \"" + name + "\" has no letter or digit");
  return out.substr(0, 200) + "-" + std::to_string(attempt);
}

int64_t to_ns(std::optional<TimePoint> t) {
  return t ? std::chrono::duration_cast<std::chrono::nanoseconds>(t->time_since_epoch()).count() : 0;
}

int64_t now_ns() { return to_ns(std::chrono::system_clock::now()); }

}  // namespace pod::cri
