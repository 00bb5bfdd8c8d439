#include "server/grpc/grpc_status.h"

#include <string>

#include "common/status_details.h"
#include "google/rpc/status.pb.h"

namespace fringe {

// An error message can never blow up a response, unary or in a stream.
constexpr size_t kMaxMessage = 1024;

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  const google::rpc::Status proto = ToStatusProto(status, kMaxMessage);
  // absl and gRPC share the canonical code numbering. Details (e.g. RetryInfo) travel as the
  // serialized google.rpc.Status in the grpc-status-details-bin trailer, as gRPC's rich error
  // model has it.
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), proto.message(),
                      proto.details_size() > 0 ? proto.SerializeAsString() : std::string());
}

google::rpc::Status ToStreamError(const absl::Status& status) {
  return ToStatusProto(status, kMaxMessage);
}

}  // namespace fringe
