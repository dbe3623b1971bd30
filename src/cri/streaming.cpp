// Exec and PortForward of the CRI RuntimeService: the request is checked here, then cached by the streaming
// server (cri/stream_server.hpp), which answers with the URL the client opens.
#include "cri/meta.hpp"
#include "cri/runtime.hpp"
#include "cri/status.hpp"
#include "cri/stream_server.hpp"

namespace pod::cri {

namespace v1 = runtime::v1;

grpc::Status RuntimeService::Exec(grpc::ServerContext*, const v1::ExecRequest* req, v1::ExecResponse* resp) {
  return guarded("Exec", [&] {
    if (req->cmd_size() == 0) return invalid("Exec: cmd is empty");
    if (!req->stdin() && !req->stdout() && !req->stderr())
      return invalid("Exec: one of stdin, stdout and stderr must be set");
    if (req->tty() && req->stderr()) return invalid("Exec: tty and stderr cannot both be set (a tty has one output)");
    auto rt = env_.runtime();
    const ContainerId cid = running_container(rt, req->container_id(), "Exec");
    if (!streams_) return grpc::Status(grpc::StatusCode::UNAVAILABLE, "Exec: the streaming server is not running");
    ExecRequest r{cid.uuid, cid.app, {req->cmd().begin(), req->cmd().end()}, req->stdin(), req->stdout(),
                  req->stderr(), req->tty()};
    resp->set_url(streams_->url_for(std::move(r)));
    return grpc::Status::OK;
  });
}

grpc::Status RuntimeService::PortForward(grpc::ServerContext*, const v1::PortForwardRequest* req,
                                         v1::PortForwardResponse* resp) {
  return guarded("PortForward", [&] {
    for (int p : req->port())
      if (p < 1 || p > 65535) return invalid("PortForward: port " + std::to_string(p) + " is not a TCP port (1-65535)");
    auto rt = env_.runtime();
    const Sandbox s = find_sandbox(rt, req->pod_sandbox_id());
    if (s.status.state != PodState::Running)
      return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                          "PortForward: sandbox " + s.status.uuid + " is not ready (" + state_name(s.status) + ")");
    if (!streams_)
      return grpc::Status(grpc::StatusCode::UNAVAILABLE, "PortForward: the streaming server is not running");
    resp->set_url(streams_->url_for(PortForwardRequest{s.status.uuid, {req->port().begin(), req->port().end()}}));
    return grpc::Status::OK;
  });
}

grpc::Status RuntimeService::Attach(grpc::ServerContext*, const v1::AttachRequest*, v1::AttachResponse*) {
  const grpc::Status s(grpc::StatusCode::UNIMPLEMENTED,
                       "Attach: not served (containers have no stdin or tty; their output is in their CRI log)");
  log_failure("Attach", s);
  return s;
}

}  // namespace pod::cri
