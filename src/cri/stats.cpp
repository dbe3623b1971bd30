// ContainerStats, ListContainerStats and PodSandboxStats from the pod's cgroups (Runtime::pod_stats).
#include "cri/meta.hpp"
#include "cri/runtime.hpp"
#include "cri/status.hpp"
#include "util/error.hpp"

namespace pod::cri {

namespace v1 = runtime::v1;

namespace {

void usage_of(const Usage& u, int64_t ts, v1::CpuUsage* cpu, v1::MemoryUsage* mem) {
  cpu->set_timestamp(ts);
  if (u.cpu_ns) cpu->mutable_usage_core_nano_seconds()->set_value(*u.cpu_ns);
  mem->set_timestamp(ts);
  if (u.memory_bytes) {
    mem->mutable_working_set_bytes()->set_value(*u.memory_bytes);
    mem->mutable_usage_bytes()->set_value(*u.memory_bytes);
  }
}

void container_stats(const Sandbox& s, const PodStats& ps, const AppStats& a, v1::ContainerStats* out) {
  const ContainerMeta& m = s.containers.at(a.name);
  auto* attr = out->mutable_attributes();
  attr->set_id(container_id(s.status.uuid, a.name));
  attr->mutable_metadata()->set_name(m.name);
  attr->mutable_metadata()->set_attempt(m.attempt);
  attr->mutable_labels()->insert(m.labels.begin(), m.labels.end());
  attr->mutable_annotations()->insert(m.annotations.begin(), m.annotations.end());
  usage_of(a.usage, to_ns(ps.taken), out->mutable_cpu(), out->mutable_memory());
}

// The stats of a running sandbox's containers (those `only` names, or all).
void sandbox_container_stats(const pod::Runtime& rt, const Sandbox& s, const std::string& only,
                             google::protobuf::RepeatedPtrField<v1::ContainerStats>* out, PodStats* keep = nullptr) {
  if (s.status.state != PodState::Running) return;
  const PodStats ps = rt.pod_stats(s.status.uuid);
  for (const auto& a : ps.apps)
    if (s.containers.count(a.name) && (only.empty() || only == a.name)) container_stats(s, ps, a, out->Add());
  if (keep) *keep = ps;
}

}  // namespace

grpc::Status RuntimeService::ContainerStats(grpc::ServerContext*, const v1::ContainerStatsRequest* req,
                                            v1::ContainerStatsResponse* resp) {
  return guarded("ContainerStats", [&] {
    auto rt = env_.runtime();
    const ContainerId cid = parse_container_id(req->container_id());
    const Sandbox s = find_sandbox(rt, cid.uuid);
    if (!s.containers.count(cid.app)) return not_found("no container " + req->container_id());
    google::protobuf::RepeatedPtrField<v1::ContainerStats> got;
    sandbox_container_stats(rt, s, cid.app, &got);
    if (got.empty())
      return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                          "ContainerStats: container " + req->container_id() + " is not running");
    *resp->mutable_stats() = got[0];
    return grpc::Status::OK;
  });
}

grpc::Status RuntimeService::ListContainerStats(grpc::ServerContext*, const v1::ListContainerStatsRequest* req,
                                                v1::ListContainerStatsResponse* resp) {
  return guarded("ListContainerStats", [&] {
    auto rt = env_.runtime();
    const auto& f = req->filter();
    for (const auto& s : list_sandboxes(rt)) {
      if (!f.pod_sandbox_id().empty() && s.status.uuid.rfind(f.pod_sandbox_id(), 0) != 0) continue;
      std::string only;
      if (!f.id().empty()) {
        const ContainerId cid = parse_container_id(f.id());
        if (cid.uuid != s.status.uuid) continue;
        only = cid.app;
      }
      sandbox_container_stats(rt, s, only, resp->mutable_stats());
    }
    return grpc::Status::OK;
  });
}

grpc::Status RuntimeService::PodSandboxStats(grpc::ServerContext*, const v1::PodSandboxStatsRequest* req,
                                             v1::PodSandboxStatsResponse* resp) {
  return guarded("PodSandboxStats", [&] {
    auto rt = env_.runtime();
    const Sandbox s = find_sandbox(rt, req->pod_sandbox_id());
    if (s.status.state != PodState::Running)
      return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                          "PodSandboxStats: sandbox " + s.status.uuid + " is not ready");
    auto* st = resp->mutable_stats();
    auto* attr = st->mutable_attributes();
    attr->set_id(s.status.uuid);
    attr->mutable_metadata()->set_name(s.meta.name);
    attr->mutable_metadata()->set_uid(s.meta.uid);
    attr->mutable_metadata()->set_namespace_(s.meta.ns);
    attr->mutable_metadata()->set_attempt(s.meta.attempt);
    attr->mutable_labels()->insert(s.meta.labels.begin(), s.meta.labels.end());
    attr->mutable_annotations()->insert(s.meta.annotations.begin(), s.meta.annotations.end());
    PodStats ps;
    auto* lin = st->mutable_linux();
    sandbox_container_stats(rt, s, "", lin->mutable_containers(), &ps);
    usage_of(ps.pod, to_ns(ps.taken), lin->mutable_cpu(), lin->mutable_memory());
    if (ps.pod.pids) lin->mutable_process()->mutable_process_count()->set_value(*ps.pod.pids);
    lin->mutable_process()->set_timestamp(to_ns(ps.taken));
    return grpc::Status::OK;
  });
}

}  // namespace pod::cri
