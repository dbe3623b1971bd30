// The CRI's pod sandboxes: a sandbox is a pod started with no apps
// (Runtime::create_sandbox); its containers come and go as apps.
#include <algorithm>

#include "cri/meta.hpp"
#include "cri/runtime.hpp"
#include "cri/status.hpp"
#include "util/error.hpp"

namespace pod::cri {

namespace v1 = runtime::v1;

namespace {

std::string publish_of(const v1::PortMapping& p) {
  if (p.host_port() <= 0 || p.host_port() > 65535 || p.container_port() <= 0 || p.container_port() > 65535)
    throw usage_error("port_mappings: host_port " + std::to_string(p.host_port()) + " and container_port " +
                      std::to_string(p.container_port()) + " must be 1-65535");
  if (p.protocol() == v1::SCTP) throw usage_error("port_mappings: SCTP is not supported (TCP and UDP are)");
  return (p.host_ip().empty() ? "" : p.host_ip() + ":") + std::to_string(p.host_port()) + ":" +
         std::to_string(p.container_port()) + (p.protocol() == v1::UDP ? "/udp" : "/tcp");
}

PodSpec sandbox_spec(const v1::PodSandboxConfig& c, const Options& o, const SandboxMeta& meta) {
  PodSpec s;
  s.sandbox = true;
  s.hostname = c.hostname();
  const auto& linux = c.linux();
  const auto& sec = linux.security_context();
  if (sec.privileged()) throw usage_error("privileged sandboxes are not supported");
  if (!linux.sysctls().empty()) throw usage_error("linux.sysctls are not supported (" + linux.sysctls().begin()->first + ")");
  const auto ns = sec.namespace_options();
  if (ns.pid() == v1::NODE || ns.ipc() == v1::NODE)
    throw usage_error("sharing the node's PID or IPC namespace is not supported");
  if (ns.network() == v1::NODE) {
    s.net = "host";
    if (c.port_mappings_size() > 0) throw usage_error("port_mappings need the pod's own network, not the node's");
  } else {
    s.net = o.net;
    for (const auto& p : c.port_mappings())
      if (p.host_port() != 0) s.publish.push_back(publish_of(p));  // 0: only declared, not published
  }
  const auto& dns = c.dns_config();
  s.dns.assign(dns.servers().begin(), dns.servers().end());
  s.dns_search.assign(dns.searches().begin(), dns.searches().end());
  s.dns_options.assign(dns.options().begin(), dns.options().end());
  s.stage1.flavor = o.stage1_flavor;
  s.annotations.push_back({kAnnSandbox, to_json(meta)});
  return s;
}

void fill_metadata(const SandboxMeta& m, v1::PodSandboxMetadata* out) {
  out->set_name(m.name);
  out->set_uid(m.uid);
  out->set_namespace_(m.ns);
  out->set_attempt(m.attempt);
}

v1::PodSandboxState sandbox_state(const PodStatus& st) {
  return st.state == PodState::Running ? v1::SANDBOX_READY : v1::SANDBOX_NOTREADY;
}

}  // namespace

bool labels_match(const google::protobuf::Map<std::string, std::string>& want,
                  const std::map<std::string, std::string>& have) {
  return std::all_of(want.begin(), want.end(), [&](const auto& kv) {
    auto it = have.find(kv.first);
    return it != have.end() && it->second == kv.second;
  });
}

grpc::Status RuntimeService::RunPodSandbox(grpc::ServerContext*, const v1::RunPodSandboxRequest* req,
                                           v1::RunPodSandboxResponse* resp) {
  return guarded("RunPodSandbox", [&] {
    const auto& c = req->config();
    const auto& md = c.metadata();
    if (md.name().empty() || md.uid().empty() || md.namespace_().empty())
      return invalid("RunPodSandbox: config.metadata needs name, uid and namespace");
    if (!req->runtime_handler().empty())
      return invalid("RunPodSandbox: runtime handler \"" + req->runtime_handler() + "\" is not known (pod has only "
                     "the default one)");
    SandboxMeta meta{md.name(), md.uid(), md.namespace_(), md.attempt(),
                     {c.labels().begin(), c.labels().end()}, {c.annotations().begin(), c.annotations().end()},
                     c.log_directory(), req->runtime_handler()};
    auto rt = env_.runtime();
    for (const auto& s : list_sandboxes(rt))  // the kubelet's names are unique per attempt
      if (s.status.state == PodState::Running && s.meta.name == meta.name && s.meta.ns == meta.ns &&
          s.meta.uid == meta.uid && s.meta.attempt == meta.attempt)
        return grpc::Status(grpc::StatusCode::ALREADY_EXISTS, "RunPodSandbox: sandbox " + s.status.uuid + " is " +
                                                                  meta.ns + "/" + meta.name + " attempt " +
                                                                  std::to_string(meta.attempt) + " already");
    resp->set_pod_sandbox_id(rt.create_sandbox(sandbox_spec(c, env_.opts, meta)));
    return grpc::Status::OK;
  });
}

grpc::Status RuntimeService::StopPodSandbox(grpc::ServerContext*, const v1::StopPodSandboxRequest* req,
                                            v1::StopPodSandboxResponse*) {
  return guarded("StopPodSandbox", [&] {
    auto rt = env_.runtime();
    auto s = find_sandbox_if_any(rt, req->pod_sandbox_id());  // idempotent: gone already is fine
    if (s && s->status.state == PodState::Running)
      rt.stop_pod(s->status.uuid, StopOptions{false, std::chrono::seconds(10)});
    return grpc::Status::OK;
  });
}

grpc::Status RuntimeService::RemovePodSandbox(grpc::ServerContext*, const v1::RemovePodSandboxRequest* req,
                                              v1::RemovePodSandboxResponse*) {
  return guarded("RemovePodSandbox", [&] {
    auto rt = env_.runtime();
    auto s = find_sandbox_if_any(rt, req->pod_sandbox_id());  // idempotent: removed already is fine
    if (!s) return grpc::Status::OK;
    if (s->status.state == PodState::Running) rt.stop_pod(s->status.uuid, StopOptions{true, std::chrono::seconds(10)});
    rt.remove_pod(s->status.uuid);
    return grpc::Status::OK;
  });
}

grpc::Status RuntimeService::PodSandboxStatus(grpc::ServerContext*, const v1::PodSandboxStatusRequest* req,
                                              v1::PodSandboxStatusResponse* resp) {
  return guarded("PodSandboxStatus", [&] {
    auto rt = env_.runtime();
    const Sandbox s = find_sandbox(rt, req->pod_sandbox_id());
    auto* st = resp->mutable_status();
    st->set_id(s.status.uuid);
    fill_metadata(s.meta, st->mutable_metadata());
    st->set_state(sandbox_state(s.status));
    st->set_created_at(to_ns(s.status.created));
    bool first = true;
    for (const auto& n : s.status.networks)
      for (const auto& cidr : n.ips) {
        const std::string ip = cidr.substr(0, cidr.find('/'));
        if (first) st->mutable_network()->set_ip(ip);
        else st->mutable_network()->add_additional_ips()->set_ip(ip);
        first = false;
      }
    auto* nso = st->mutable_linux()->mutable_namespaces()->mutable_options();
    nso->set_network(s.status.net == "host" ? v1::NODE : v1::POD);
    nso->set_pid(v1::CONTAINER);
    nso->set_ipc(v1::POD);
    st->mutable_labels()->insert(s.meta.labels.begin(), s.meta.labels.end());
    st->mutable_annotations()->insert(s.meta.annotations.begin(), s.meta.annotations.end());
    st->set_runtime_handler(s.meta.runtime_handler);
    if (req->verbose()) (*resp->mutable_info())["pod"] = s.status.uuid + " (" + state_name(s.status) + ")";
    return grpc::Status::OK;
  });
}

grpc::Status RuntimeService::ListPodSandbox(grpc::ServerContext*, const v1::ListPodSandboxRequest* req,
                                            v1::ListPodSandboxResponse* resp) {
  return guarded("ListPodSandbox", [&] {
    auto rt = env_.runtime();
    const auto& f = req->filter();
    for (const auto& s : list_sandboxes(rt)) {
      if (!f.id().empty() && s.status.uuid.rfind(f.id(), 0) != 0) continue;
      if (f.has_state() && f.state().state() != sandbox_state(s.status)) continue;
      if (!labels_match(f.label_selector(), s.meta.labels)) continue;
      auto* out = resp->add_items();
      out->set_id(s.status.uuid);
      fill_metadata(s.meta, out->mutable_metadata());
      out->set_state(sandbox_state(s.status));
      out->set_created_at(to_ns(s.status.created));
      out->mutable_labels()->insert(s.meta.labels.begin(), s.meta.labels.end());
      out->mutable_annotations()->insert(s.meta.annotations.begin(), s.meta.annotations.end());
      out->set_runtime_handler(s.meta.runtime_handler);
    }
    return grpc::Status::OK;
  });
}

}  // namespace pod::cri
