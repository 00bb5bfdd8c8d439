// Error details that travel with an absl::Status as payloads keyed by their google.rpc type
// URL, so core code (no gRPC) can say "retry in 100 ms" and the one status conversion on each
// side (server/grpc/grpc_status.h, the client library) carries it as google.rpc.Status details.
#ifndef FRINGE_COMMON_STATUS_DETAILS_H_
#define FRINGE_COMMON_STATUS_DETAILS_H_

#include <chrono>
#include <optional>

#include "absl/status/status.h"

namespace google::rpc {
class Status;
}  // namespace google::rpc

namespace fringe {

inline constexpr char kRetryInfoTypeUrl[] = "type.googleapis.com/google.rpc.RetryInfo";

// Attaches a google.rpc.RetryInfo with `delay` to `status` (not OK).
void SetRetryDelay(absl::Status* status, std::chrono::milliseconds delay);

// The RetryInfo delay a status carries, if any.
std::optional<std::chrono::milliseconds> RetryDelay(const absl::Status& status);

// absl::Status <-> google.rpc.Status: code, message (cut to `max_message` bytes) and every
// payload as a detail (type URL + bytes), both ways.
google::rpc::Status ToStatusProto(const absl::Status& status, size_t max_message = 1024);
absl::Status FromStatusProto(const google::rpc::Status& proto);

}  // namespace fringe

#endif  // FRINGE_COMMON_STATUS_DETAILS_H_
