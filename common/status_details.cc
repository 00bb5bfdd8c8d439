#include "common/status_details.h"

#include <string>

#include "absl/strings/cord.h"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"

namespace fringe {

void SetRetryDelay(absl::Status* status, std::chrono::milliseconds delay) {
  google::rpc::RetryInfo info;
  const auto ms = delay.count();
  info.mutable_retry_delay()->set_seconds(ms / 1000);
  info.mutable_retry_delay()->set_nanos(static_cast<int32_t>(ms % 1000) * 1000000);
  status->SetPayload(kRetryInfoTypeUrl, absl::Cord(info.SerializeAsString()));
}

std::optional<std::chrono::milliseconds> RetryDelay(const absl::Status& status) {
  const auto payload = status.GetPayload(kRetryInfoTypeUrl);  // absl::optional here.
  google::rpc::RetryInfo info;
  if (!payload || !info.ParseFromString(std::string(*payload))) return std::nullopt;
  return std::chrono::milliseconds(info.retry_delay().seconds() * 1000 +
                                   info.retry_delay().nanos() / 1000000);
}

google::rpc::Status ToStatusProto(const absl::Status& status, size_t max_message) {
  google::rpc::Status proto;
  proto.set_code(static_cast<int32_t>(status.code()));  // absl and gRPC share the numbering.
  proto.set_message(std::string(status.message().substr(0, max_message)));
  status.ForEachPayload([&proto](absl::string_view type_url, const absl::Cord& value) {
    google::protobuf::Any* detail = proto.add_details();
    detail->set_type_url(std::string(type_url));
    detail->set_value(std::string(value));
  });
  return proto;
}

absl::Status FromStatusProto(const google::rpc::Status& proto) {
  absl::Status status(static_cast<absl::StatusCode>(proto.code()), proto.message());
  if (status.ok()) return status;
  for (const google::protobuf::Any& detail : proto.details()) {
    status.SetPayload(detail.type_url(), absl::Cord(detail.value()));
  }
  return status;
}

}  // namespace fringe
