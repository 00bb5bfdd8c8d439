// The client library without a server: model references, wire images and their pixel sizes,
// the status conversion (rich error details included) and the trust lines the CLI prints.
#include "client/fringe_client.h"

#include <gtest/gtest.h>

#include "common/status_details.h"
#include "common/tensor_codec.h"
#include "google/rpc/status.pb.h"

namespace fringe {
namespace {

TEST(FringeClientTest, ModelReferences) {
  auto plain = ParseModelRef("default");
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(plain->name(), "default");
  EXPECT_EQ(plain->version(), 0);
  auto pinned = ParseModelRef("msa-em:3");
  ASSERT_TRUE(pinned.ok());
  EXPECT_EQ(pinned->name(), "msa-em");
  EXPECT_EQ(pinned->version(), 3);
  EXPECT_TRUE(ParseModelRef("").ok()) << "empty = the server's default model";
  for (const char* bad : {"m:0", "m:-1", "m:x", "m:"}) {
    EXPECT_EQ(ParseModelRef(bad).status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
}

TEST(FringeClientTest, WireImagesKeepTheirDepthOrBecomeFloat) {
  for (int depth : {CV_8U, CV_16U, CV_16S, CV_32F}) {
    auto image = MakeWireImage(cv::Mat(3, 5, CV_MAKETYPE(depth, 1), cv::Scalar(7)));
    ASSERT_TRUE(image.ok()) << image.status();
    auto back = TensorToMat(image->tensor(), "image");
    ASSERT_TRUE(back.ok()) << back.status();
    EXPECT_EQ(back->depth(), depth);
    EXPECT_EQ(back->size(), cv::Size(5, 3));
  }
  auto widened = MakeWireImage(cv::Mat(2, 2, CV_64F, cv::Scalar(1.5)));
  ASSERT_TRUE(widened.ok());
  EXPECT_EQ(widened->tensor().dtype(), v1::DTYPE_FLOAT32);
  EXPECT_EQ(MakeWireImage(cv::Mat()).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(MakeWireImage(cv::Mat(2, 2, CV_8UC3)).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(FringeClientTest, PixelSizesOnTheWire) {
  v1::Image wire;
  PixelSize p = SetWirePixelSize(0.02, 0.02, 0, &wire);
  EXPECT_DOUBLE_EQ(wire.pixel_size_nm(), 0.02);
  EXPECT_EQ(wire.pixel_size_y_nm(), 0.0) << "square pixels send one number";
  EXPECT_TRUE(p.known());
  SetWirePixelSize(0.02, 0.03, 0, &wire);
  EXPECT_DOUBLE_EQ(wire.pixel_size_y_nm(), 0.03);
  SetWirePixelSize(0.02, 0.03, 0.05, &wire);  // --pixel-size-nm wins, both axes.
  EXPECT_DOUBLE_EQ(wire.pixel_size_nm(), 0.05);
  EXPECT_EQ(wire.pixel_size_y_nm(), 0.0);
  p = SetWirePixelSize(0.02, std::nullopt, 0, &wire);  // One axis alone is not a pixel size.
  EXPECT_FALSE(p.known());
  EXPECT_EQ(wire.pixel_size_nm(), 0.0);
}

TEST(FringeClientTest, StatusConversionKeepsCodesMessagesAndRetryHints) {
  EXPECT_TRUE(FromGrpcStatus(grpc::Status::OK).ok());
  const absl::Status plain =
      FromGrpcStatus(grpc::Status(grpc::StatusCode::NOT_FOUND, "no model \"x\""));
  EXPECT_EQ(plain.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(plain.message(), "no model \"x\"");
  EXPECT_FALSE(RetryDelay(plain).has_value());

  absl::Status full = absl::ResourceExhaustedError("queue is full");
  SetRetryDelay(&full, std::chrono::milliseconds(300));
  const absl::Status back =
      FromGrpcStatus(grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED, "queue is full",
                                  ToStatusProto(full).SerializeAsString()));
  EXPECT_EQ(back.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(back.message(), "queue is full");
  ASSERT_TRUE(RetryDelay(back).has_value());
  EXPECT_EQ(RetryDelay(back)->count(), 300);
  // Details that do not parse are ignored, not fatal.
  EXPECT_EQ(FromGrpcStatus(grpc::Status(grpc::StatusCode::INTERNAL, "x", "\xff\xff")).code(),
            absl::StatusCode::kInternal);
}

TEST(FringeClientTest, TrustLinesListWarningsAndOutOfDomainReasonsOnce) {
  v1::SegmentResponse r;
  EXPECT_EQ(DescribeTrust(r), "");
  r.add_warnings("pixel size unknown: served as is");
  r.mutable_quality()->set_out_of_domain(true);
  r.mutable_quality()->add_reasons("pixel size unknown: served as is");
  r.mutable_quality()->add_reasons("mean entropy 0.41 bits");
  EXPECT_EQ(DescribeTrust(r),
            "  warning: pixel size unknown: served as is\n  out of domain: mean entropy 0.41 "
            "bits\n");
}

}  // namespace
}  // namespace fringe
