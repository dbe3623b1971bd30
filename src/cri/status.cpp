#include "cri/status.hpp"

#include <iostream>

namespace pod::cri {

grpc::Status to_status(const pod::Error& e) {
  using C = grpc::StatusCode;
  C code = C::UNKNOWN;
  switch (e.kind()) {
    case ErrorKind::NotFound: code = C::NOT_FOUND; break;
    case ErrorKind::Usage:
    case ErrorKind::Invalid: code = C::INVALID_ARGUMENT; break;
    case ErrorKind::Conflict: code = C::FAILED_PRECONDITION; break;
    case ErrorKind::Internal: code = C::INTERNAL; break;
    case ErrorKind::Io:
    case ErrorKind::Image:
    case ErrorKind::Stage1:
    case ErrorKind::Failed: code = C::UNKNOWN; break;
  }
  return grpc::Status(code, e.what());
}

grpc::Status invalid(const std::string& msg) { return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, msg); }
grpc::Status not_found(const std::string& msg) { return grpc::Status(grpc::StatusCode::NOT_FOUND, msg); }

void log_failure(const char* rpc, const grpc::Status& s) {
  std::cerr << "pod-cri: " << rpc << ": " << s.error_message() << "\n";
}

}  // namespace pod::cri
