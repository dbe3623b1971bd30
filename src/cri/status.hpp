// pod::Error -> gRPC status, as the CRI expects them: an unknown sandbox,
// container or image is NOT_FOUND, a malformed request INVALID_ARGUMENT, a
// state that forbids the call FAILED_PRECONDITION.
#pragma once
#include <grpcpp/grpcpp.h>

#include <pod/error.hpp>
#include <string>

namespace pod::cri {

grpc::Status to_status(const pod::Error& e);
grpc::Status invalid(const std::string& msg);
grpc::Status not_found(const std::string& msg);
// One line on stderr per failed call: "pod-cri: RPC: message".
void log_failure(const char* rpc, const grpc::Status& s);

// Runs `body` (which returns a grpc::Status); a pod::Error it throws becomes
// its status. Anything else escaping is a bug of ours: INTERNAL, logged.
template <class F>
grpc::Status guarded(const char* rpc, F&& body) {
  grpc::Status s;
  try {
    s = body();
  } catch (const pod::Error& e) {
    s = to_status(e);
  } catch (const std::exception& e) {
    s = grpc::Status(grpc::StatusCode::INTERNAL, std::string("internal error: ") + e.what());
  }
  if (!s.ok()) log_failure(rpc, s);
  return s;
}

}  // namespace pod::cri
