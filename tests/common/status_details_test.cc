// Error details on absl::Status and their google.rpc.Status form (what the server sends in
// grpc-status-details-bin and in a stream's SegmentResponse.error).
#include "common/status_details.h"

#include <gtest/gtest.h>

#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"

namespace fringe {
namespace {

TEST(StatusDetailsTest, RetryDelayRoundTripsThroughTheWireForm) {
  absl::Status full = absl::ResourceExhaustedError("the BATCH queue is full");
  EXPECT_FALSE(RetryDelay(full).has_value());
  SetRetryDelay(&full, std::chrono::milliseconds(1250));
  ASSERT_TRUE(RetryDelay(full).has_value());
  EXPECT_EQ(RetryDelay(full)->count(), 1250);

  const google::rpc::Status proto = ToStatusProto(full);
  EXPECT_EQ(proto.code(), 8);  // RESOURCE_EXHAUSTED in google.rpc.Code and grpc::StatusCode.
  EXPECT_EQ(proto.message(), "the BATCH queue is full");
  ASSERT_EQ(proto.details_size(), 1);
  google::rpc::RetryInfo info;
  ASSERT_TRUE(proto.details(0).UnpackTo(&info)) << proto.details(0).type_url();
  EXPECT_EQ(info.retry_delay().seconds(), 1);
  EXPECT_EQ(info.retry_delay().nanos(), 250000000);

  const absl::Status back = FromStatusProto(proto);
  EXPECT_EQ(back.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(back.message(), full.message());
  EXPECT_EQ(RetryDelay(back)->count(), 1250);
}

TEST(StatusDetailsTest, MessagesAreCutAndOkHasNoDetails) {
  const absl::Status long_error = absl::InvalidArgumentError(std::string(5000, 'x'));
  EXPECT_EQ(ToStatusProto(long_error, 1024).message().size(), 1024u);
  EXPECT_EQ(ToStatusProto(absl::OkStatus()).code(), 0);
  EXPECT_EQ(ToStatusProto(absl::OkStatus()).details_size(), 0);
  EXPECT_TRUE(FromStatusProto(google::rpc::Status()).ok());
}

}  // namespace
}  // namespace fringe
