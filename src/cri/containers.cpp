// The CRI's containers: apps added to a running sandbox (Runtime::add_app),
// started, stopped and removed one by one.
#include <algorithm>

#include "cri/images.hpp"
#include "cri/meta.hpp"
#include "cri/runtime.hpp"
#include "cri/status.hpp"
#include "util/error.hpp"

namespace pod::cri {

namespace v1 = runtime::v1;

namespace {

// The container's resources as pod's isolators: each one asked for is enforced or refused.
void resources_of(const v1::LinuxContainerResources& r, IsolatorSpec& iso) {
  if (r.memory_limit_in_bytes() > 0) iso.memory = std::to_string(r.memory_limit_in_bytes());
  if (r.memory_swap_limit_in_bytes() > 0 && r.memory_swap_limit_in_bytes() != r.memory_limit_in_bytes())
    throw usage_error("resources.memory_swap_limit_in_bytes: swap for containers is not supported (give it equal "
                      "to memory_limit_in_bytes, or 0)");
  if (r.cpu_quota() > 0) {
    const int64_t period = r.cpu_period() > 0 ? r.cpu_period() : 100000;
    iso.cpu = std::to_string(std::max<int64_t>(1, r.cpu_quota() * 1000 / period)) + "m";
  }
  if (r.cpu_shares() > 0) iso.cpu_shares = std::to_string(r.cpu_shares());
  if (r.oom_score_adj() != 0) iso.oom_score_adj = std::to_string(r.oom_score_adj());
  if (!r.cpuset_cpus().empty() || !r.cpuset_mems().empty()) throw usage_error("resources.cpuset_*: not supported");
  if (r.hugepage_limits_size() > 0) throw usage_error("resources.hugepage_limits: not supported");
  if (!r.unified().empty()) throw usage_error("resources.unified: not supported (" + r.unified().begin()->first + ")");
}

// The container's mounts as host volumes the sandbox gains with it (AppSpec::volumes, one per mount, named
// m<i>-<app>), with private propagation and read-only all the way down when readonly. Mounted in order of
// depth (a mount inside another one's path after it), as the kubelet expects. What pod cannot do is refused.
void mounts_of(const v1::ContainerConfig& c, AppSpec& a) {
  std::vector<int> order;
  for (int i = 0; i < c.mounts_size(); ++i) order.push_back(i);
  const auto depth = [&](int i) { return std::count(c.mounts(i).container_path().begin(), c.mounts(i).container_path().end(), '/'); };
  std::stable_sort(order.begin(), order.end(), [&](int x, int y) { return depth(x) < depth(y); });
  for (int i : order) {
    const auto& mt = c.mounts(i);
    const std::string what = "mounts[" + std::to_string(i) + "] (" + mt.host_path() + " at " + mt.container_path() + ")";
    if (mt.has_image() || !mt.image_sub_path().empty()) throw usage_error(what + ": image mounts are not supported");
    if (mt.uidmappings_size() > 0 || mt.gidmappings_size() > 0)
      throw usage_error(what + ": uid/gid mappings of mounts are not supported");
    if (mt.propagation() != v1::PROPAGATION_PRIVATE)
      throw usage_error(what + ": propagation " + v1::MountPropagation_Name(mt.propagation()) +
                        " is not supported (only PROPAGATION_PRIVATE)");
    if (mt.recursive_read_only() && !mt.readonly()) throw usage_error(what + ": recursive_read_only needs readonly");
    if (mt.host_path().empty()) throw usage_error(what + ": host_path is empty");
    // selinux_relabel: nothing to relabel without SELinux (Documentation/kubernetes.md).
    VolumeSpec v;
    v.name = "m" + std::to_string(i) + "-" + a.name;
    v.kind = "host";
    v.source = mt.host_path();
    v.read_only = mt.readonly();
    a.mounts.push_back({v.name, mt.container_path()});
    a.volumes.push_back(std::move(v));
  }
}

AppSpec app_spec(const v1::ContainerConfig& c, const std::string& image_id, const ContainerMeta& meta) {
  AppSpec a;
  a.image = image_id;
  a.name = app_name_for(meta.name, meta.attempt);
  if (c.command_size() > 0) {
    a.exec = c.command(0);
    a.args.assign(c.command().begin() + 1, c.command().end());
  }
  a.args.insert(a.args.end(), c.args().begin(), c.args().end());
  a.args_given = c.command_size() > 0 || c.args_size() > 0;
  for (const auto& kv : c.envs()) a.set_env.push_back({kv.key(), kv.value()});
  if (!c.working_dir().empty()) a.working_dir = c.working_dir();
  mounts_of(c, a);
  if (c.devices_size() > 0) throw usage_error("devices: not supported (" + c.devices(0).host_path() + ")");
  if (c.tty() || c.stdin()) throw usage_error("tty and stdin containers are not supported (attach is not served)");
  const auto& sec = c.linux().security_context();
  if (sec.privileged()) throw usage_error("privileged containers are not supported");
  if (sec.has_run_as_user()) a.user = std::to_string(sec.run_as_user().value());
  else if (!sec.run_as_username().empty()) a.user = sec.run_as_username();
  if (sec.has_run_as_group()) a.group = std::to_string(sec.run_as_group().value());
  a.readonly_rootfs = sec.readonly_rootfs();
  if (sec.capabilities().add_capabilities_size() > 0)
    throw usage_error("capabilities.add_capabilities: not supported (" + sec.capabilities().add_capabilities(0) + ")");
  std::string drop;
  for (const auto& cap : sec.capabilities().drop_capabilities())
    drop += (drop.empty() ? "" : ",") + (cap.rfind("CAP_", 0) == 0 ? cap : "CAP_" + cap);
  if (!drop.empty()) a.isolators.caps_remove = drop;
  resources_of(c.linux().resources(), a.isolators);
  a.annotations.push_back({kAnnContainer, to_json(meta)});
  a.cri_log = meta.log_path;  // the init writes the container's output there in the CRI format
  return a;
}

v1::ContainerState state_of(const AppState& a) {
  if (a.state == "running") return v1::CONTAINER_RUNNING;
  if (a.state == "exited") return v1::CONTAINER_EXITED;
  if (a.state == "created") return v1::CONTAINER_CREATED;
  return v1::CONTAINER_UNKNOWN;
}

void fill_metadata(const ContainerMeta& m, v1::ContainerMetadata* out) {
  out->set_name(m.name);
  out->set_attempt(m.attempt);
}

}  // namespace

grpc::Status RuntimeService::CreateContainer(grpc::ServerContext*, const v1::CreateContainerRequest* req,
                                             v1::CreateContainerResponse* resp) {
  return guarded("CreateContainer", [&] {
    const auto& c = req->config();
    if (c.metadata().name().empty()) return invalid("CreateContainer: config.metadata.name is empty");
    if (c.image().image().empty()) return invalid("CreateContainer: config.image.image is empty");
    auto rt = env_.runtime();
    const Sandbox s = find_sandbox(rt, req->pod_sandbox_id());
    if (s.status.state != PodState::Running)
      return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                          "CreateContainer: sandbox " + s.status.uuid + " is not ready (" + state_name(s.status) + ")");
    if (!c.log_path().empty()) {
      if (s.meta.log_directory.empty() || s.meta.log_directory[0] != '/')
        return invalid("CreateContainer: config.log_path " + c.log_path() + " needs the sandbox's log_directory (an "
                       "absolute path; it is \"" + s.meta.log_directory + "\")");
      if (c.log_path()[0] == '/' || ("/" + c.log_path() + "/").find("/../") != std::string::npos)
        return invalid("CreateContainer: config.log_path " + c.log_path() +
                       " must be a relative path inside the sandbox's log_directory");
    }
    auto image = find_image(rt, c.image().image());
    if (!image) return not_found("CreateContainer: image " + c.image().image() + " is not pulled");
    ContainerMeta meta{c.metadata().name(), c.metadata().attempt(),
                       {c.labels().begin(), c.labels().end()}, {c.annotations().begin(), c.annotations().end()},
                       c.image().image(), c.log_path().empty() ? "" : s.meta.log_directory + "/" + c.log_path(),
                       now_ns()};
    const std::string app = rt.add_app(s.status.uuid, app_spec(c, image->id, meta));
    resp->set_container_id(container_id(s.status.uuid, app));
    return grpc::Status::OK;
  });
}

grpc::Status RuntimeService::StartContainer(grpc::ServerContext*, const v1::StartContainerRequest* req,
                                            v1::StartContainerResponse*) {
  return guarded("StartContainer", [&] {
    auto rt = env_.runtime();
    find_container(rt, req->container_id());
    const ContainerId cid = parse_container_id(req->container_id());
    rt.start_app(cid.uuid, cid.app);
    return grpc::Status::OK;
  });
}

grpc::Status RuntimeService::ReopenContainerLog(grpc::ServerContext*, const v1::ReopenContainerLogRequest* req,
                                                v1::ReopenContainerLogResponse*) {
  return guarded("ReopenContainerLog", [&] {
    auto rt = env_.runtime();
    const auto [s, meta] = find_container(rt, req->container_id());
    const ContainerId cid = parse_container_id(req->container_id());
    if (s.status.state != PodState::Running || rt.app_status(cid.uuid, cid.app).state != "running")
      return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                          "ReopenContainerLog: container " + req->container_id() + " is not running");
    if (meta.log_path.empty())
      return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                          "ReopenContainerLog: container " + req->container_id() + " has no log_path");
    rt.reopen_app_log(cid.uuid, cid.app);
    return grpc::Status::OK;
  });
}

grpc::Status RuntimeService::UpdateContainerResources(grpc::ServerContext*, const v1::UpdateContainerResourcesRequest* req,
                                                      v1::UpdateContainerResourcesResponse*) {
  return guarded("UpdateContainerResources", [&] {
    auto rt = env_.runtime();
    const auto [s, meta] = find_container(rt, req->container_id());
    const ContainerId cid = parse_container_id(req->container_id());
    if (req->has_windows()) return invalid("UpdateContainerResources: windows resources on a Linux runtime");
    if (!req->has_linux()) return invalid("UpdateContainerResources: no linux resources given");
    if (s.status.state != PodState::Running)
      return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                          "UpdateContainerResources: the sandbox of container " + req->container_id() + " is not running");
    IsolatorSpec iso;
    resources_of(req->linux(), iso);
    // The OOM score is the process's, set when it starts: the kubelet repeats the one it was created with.
    std::string oom_now = "0";
    for (const auto& a : s.status.apps)
      if (a.name == cid.app)
        for (const auto& [name, value] : a.isolators)
          if (name == "os/linux/oom-score-adj") oom_now = value;
    if (iso.oom_score_adj.value_or("0") != oom_now)
      return invalid("UpdateContainerResources: oom_score_adj cannot change in a running container (it is " + oom_now + ")");
    iso.oom_score_adj.reset();
    if (!iso.memory && !iso.cpu && !iso.cpu_shares) return grpc::Status::OK;  // nothing asked for
    rt.update_app_resources(cid.uuid, cid.app, iso);
    return grpc::Status::OK;
  });
}

grpc::Status RuntimeService::StopContainer(grpc::ServerContext*, const v1::StopContainerRequest* req,
                                           v1::StopContainerResponse*) {
  return guarded("StopContainer", [&] {
    auto rt = env_.runtime();
    const auto [s, meta] = find_container(rt, req->container_id());
    const ContainerId cid = parse_container_id(req->container_id());
    if (s.status.state != PodState::Running) return grpc::Status::OK;  // the sandbox is down: so is the app
    AppStopOptions o;
    o.timeout = std::chrono::seconds(std::max<int64_t>(0, req->timeout()));
    o.force = req->timeout() <= 0;
    for (const auto& out : rt.stop_apps(cid.uuid, {cid.app}, o))
      if (!out.ok && out.message != "not running")
        return grpc::Status(grpc::StatusCode::UNKNOWN, "StopContainer: " + out.app + ": " + out.message);
    return grpc::Status::OK;
  });
}

grpc::Status RuntimeService::RemoveContainer(grpc::ServerContext*, const v1::RemoveContainerRequest* req,
                                             v1::RemoveContainerResponse*) {
  return guarded("RemoveContainer", [&] {
    auto rt = env_.runtime();
    std::optional<std::pair<Sandbox, ContainerMeta>> found;
    try {
      found = find_container(rt, req->container_id());
    } catch (const pod::Error& e) {
      if (e.kind() == ErrorKind::NotFound) return grpc::Status::OK;  // idempotent: removed already
      throw;
    }
    const ContainerId cid = parse_container_id(req->container_id());
    if (found->first.status.state != PodState::Running)
      return grpc::Status::OK;  // goes with its sandbox (RemovePodSandbox); an exited pod's apps stay as they are
    if (rt.app_status(cid.uuid, cid.app).state == "running") rt.stop_apps(cid.uuid, {cid.app}, AppStopOptions{true});
    rt.remove_app(cid.uuid, cid.app);
    return grpc::Status::OK;
  });
}

void RuntimeService::fill_container_status(const pod::Runtime& rt, const std::string& id, v1::ContainerStatus* st) {
  const auto [s, meta] = find_container(rt, id);
  const ContainerId cid = parse_container_id(id);
  const AppState a = rt.app_status(cid.uuid, cid.app);
  st->set_id(id);
  fill_metadata(meta, st->mutable_metadata());
  st->set_state(state_of(a));
  st->set_created_at(meta.created_at);
  st->set_started_at(to_ns(a.started));
  st->set_finished_at(to_ns(a.finished));
  st->mutable_image()->set_image(meta.image);
  st->set_image_ref(cri_image_id(a.image_id));
  st->set_image_id(cri_image_id(a.image_id));
  if (a.state == "exited") {
    st->set_exit_code(a.exit_code.value_or(0));
    st->set_reason(a.exit_code.value_or(0) == 0 ? "Completed" : "Error");
  }
  st->mutable_labels()->insert(meta.labels.begin(), meta.labels.end());
  st->mutable_annotations()->insert(meta.annotations.begin(), meta.annotations.end());
  st->set_log_path(meta.log_path);
}

grpc::Status RuntimeService::ContainerStatus(grpc::ServerContext*, const v1::ContainerStatusRequest* req,
                                             v1::ContainerStatusResponse* resp) {
  return guarded("ContainerStatus", [&] {
    auto rt = env_.runtime();
    fill_container_status(rt, req->container_id(), resp->mutable_status());
    return grpc::Status::OK;
  });
}

grpc::Status RuntimeService::ListContainers(grpc::ServerContext*, const v1::ListContainersRequest* req,
                                            v1::ListContainersResponse* resp) {
  return guarded("ListContainers", [&] {
    auto rt = env_.runtime();
    const auto& f = req->filter();
    for (const auto& s : list_sandboxes(rt)) {
      if (!f.pod_sandbox_id().empty() && s.status.uuid.rfind(f.pod_sandbox_id(), 0) != 0) continue;
      if (s.containers.empty()) continue;
      for (const AppState& a : rt.list_apps(s.status.uuid)) {
        auto m = s.containers.find(a.name);
        if (m == s.containers.end()) continue;
        const std::string id = container_id(s.status.uuid, a.name);
        if (!f.id().empty() && id.rfind(f.id(), 0) != 0) continue;
        if (f.has_state() && f.state().state() != state_of(a)) continue;
        if (!labels_match(f.label_selector(), m->second.labels)) continue;
        auto* c = resp->add_containers();
        c->set_id(id);
        c->set_pod_sandbox_id(s.status.uuid);
        fill_metadata(m->second, c->mutable_metadata());
        c->mutable_image()->set_image(m->second.image);
        c->set_image_ref(cri_image_id(a.image_id));
        c->set_image_id(cri_image_id(a.image_id));
        c->set_state(state_of(a));
        c->set_created_at(m->second.created_at);
        c->mutable_labels()->insert(m->second.labels.begin(), m->second.labels.end());
        c->mutable_annotations()->insert(m->second.annotations.begin(), m->second.annotations.end());
      }
    }
    return grpc::Status::OK;
  });
}

grpc::Status RuntimeService::ExecSync(grpc::ServerContext*, const v1::ExecSyncRequest* req,
                                      v1::ExecSyncResponse* resp) {
  return guarded("ExecSync", [&] {
    if (req->cmd_size() == 0) return invalid("ExecSync: cmd is empty");
    auto rt = env_.runtime();
    const ContainerId cid = running_container(rt, req->container_id(), "ExecSync");
    std::optional<std::chrono::milliseconds> timeout;
    if (req->timeout() > 0) timeout = std::chrono::seconds(req->timeout());
    const ExecResult r = rt.exec_capture(cid.uuid, cid.app, {req->cmd().begin(), req->cmd().end()}, timeout);
    if (r.timed_out)
      return grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED,
                          "ExecSync: the command did not finish within " + std::to_string(req->timeout()) + " s");
    resp->set_stdout(r.out);
    resp->set_stderr(r.err);
    resp->set_exit_code(r.exit_code);
    return grpc::Status::OK;
  });
}

}  // namespace pod::cri
