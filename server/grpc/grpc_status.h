// The one place where internal absl::Status values become grpc::Status (DESIGN rule 5).
#ifndef FRINGE_SERVER_GRPC_GRPC_STATUS_H_
#define FRINGE_SERVER_GRPC_GRPC_STATUS_H_

#include <grpcpp/support/status.h>

#include "absl/status/status.h"
#include "google/rpc/status.pb.h"

namespace fringe {

// Same code, message truncated to 1 KiB so an error can never blow up a response; payloads
// (common/status_details.h, e.g. a RetryInfo) become google.rpc.Status details.
grpc::Status ToGrpcStatus(const absl::Status& status);

// The same for an error answered inside a stream (SegmentResponse.error).
google::rpc::Status ToStreamError(const absl::Status& status);

}  // namespace fringe

#endif  // FRINGE_SERVER_GRPC_GRPC_STATUS_H_
