// The one absl::Status -> gRPC conversion: codes kept, messages cut to 1 KiB, payloads carried
// as google.rpc.Status details (the grpc-status-details-bin trailer) and in stream errors.
#include "server/grpc/grpc_status.h"

#include <gtest/gtest.h>

#include "common/status_details.h"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"

namespace fringe {
namespace {

TEST(GrpcStatusTest, CodesAndMessagesCarryOverAndLongMessagesAreCut) {
  EXPECT_TRUE(ToGrpcStatus(absl::OkStatus()).ok());
  for (absl::StatusCode code :
       {absl::StatusCode::kInvalidArgument, absl::StatusCode::kNotFound,
        absl::StatusCode::kFailedPrecondition, absl::StatusCode::kResourceExhausted,
        absl::StatusCode::kUnavailable, absl::StatusCode::kInternal}) {
    const grpc::Status s = ToGrpcStatus(absl::Status(code, "what went wrong"));
    EXPECT_EQ(static_cast<int>(s.error_code()), static_cast<int>(code));
    EXPECT_EQ(s.error_message(), "what went wrong");
    EXPECT_TRUE(s.error_details().empty()) << "no payload, no details trailer";
  }
  const grpc::Status long_one = ToGrpcStatus(absl::InvalidArgumentError(std::string(4000, 'x')));
  EXPECT_EQ(long_one.error_message().size(), 1024u);
}

TEST(GrpcStatusTest, RetryInfoTravelsInTheDetailsAndInStreamErrors) {
  absl::Status full = absl::ResourceExhaustedError("the LIVE queue is full");
  SetRetryDelay(&full, std::chrono::milliseconds(100));
  const grpc::Status s = ToGrpcStatus(full);
  google::rpc::Status details;
  ASSERT_TRUE(details.ParseFromString(s.error_details()));
  EXPECT_EQ(details.code(), static_cast<int>(grpc::StatusCode::RESOURCE_EXHAUSTED));
  ASSERT_EQ(details.details_size(), 1);
  google::rpc::RetryInfo info;
  ASSERT_TRUE(details.details(0).UnpackTo(&info));
  EXPECT_EQ(info.retry_delay().nanos(), 100000000);

  const google::rpc::Status in_stream = ToStreamError(full);
  EXPECT_EQ(in_stream.code(), details.code());
  EXPECT_EQ(in_stream.message(), "the LIVE queue is full");
  EXPECT_EQ(in_stream.details_size(), 1);
}

}  // namespace
}  // namespace fringe
