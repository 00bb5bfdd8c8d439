#include "models/mac_count.h"

#include <gtest/gtest.h>

#include "models/model_config.h"

namespace fringe {
namespace {

v1::ModelConfig Parse(const std::string& text) {
  auto config = ParseModelConfig(text);
  EXPECT_TRUE(config.ok()) << config.status();
  return *config;
}

// Depth 1, base 2, no BatchNorm, one input channel, two classes, an 8 x 8 tile, counted by
// hand layer by layer (MACs = output elements x input channels x kernel area):
//   down.0:      1->2 3x3 at 8x8: 64*2*9 = 1152;   2->2: 64*2*18 = 2304
//   bottleneck:  2->4 3x3 at 4x4: 16*4*18 = 1152;  4->4: 16*4*36 = 2304
//   up.0:        transposed 4->2, 2x2 stride 2: 8x8x2 outputs x 4 inputs = 512
//   up_blocks.0: (2+2)->2 at 8x8: 64*2*36 = 4608;  2->2: 2304
//   head:        2->2 1x1: 64*2*2 = 256
TEST(MacCountTest, UNetMatchesTheHandCount) {
  const v1::ModelConfig config = Parse(
      "architecture: \"unet\" unet { depth: 1 base_filters: 2 batch_norm: false } "
      "classes: \"background\" classes: \"particle\"");
  auto count = CountMultiplyAccumulates(config, 8);
  ASSERT_TRUE(count.ok()) << count.status();
  EXPECT_EQ(count->total, 14592);
  EXPECT_EQ(count->by_operation.at("transposed convolution"), 512);
  EXPECT_EQ(count->by_operation.at("convolution"), 14592 - 512);
}

TEST(MacCountTest, FullyConvolutionalCostGrowsWithTheArea) {
  const v1::ModelConfig unet = Parse(
      "architecture: \"unet\" unet { depth: 3 base_filters: 4 batch_norm: true } "
      "classes: \"background\" classes: \"particle\"");
  auto small = CountMultiplyAccumulates(unet, 64);
  auto large = CountMultiplyAccumulates(unet, 128);
  ASSERT_TRUE(small.ok() && large.ok());
  EXPECT_EQ(large->total, 4 * small->total);
  // Dilation changes which pixels are read, not how many products are made.
  v1::ModelConfig dilated = unet;
  for (int d : {1, 1, 2, 4}) dilated.mutable_unet()->add_dilation(d);
  auto with_dilation = CountMultiplyAccumulates(dilated, 64);
  ASSERT_TRUE(with_dilation.ok()) << with_dilation.status();
  EXPECT_EQ(with_dilation->total, small->total);
}

TEST(MacCountTest, FCN8sCountsItsScoreFusionAndUpsampling) {
  const v1::ModelConfig config = Parse(
      "architecture: \"fcn8s\" fcn8s { width_divisor: 16 fc6_channels: 32 fc7_channels: 32 } "
      "classes: \"background\" classes: \"particle\"");
  auto count = CountMultiplyAccumulates(config, 64);
  ASSERT_TRUE(count.ok()) << count.status();
  EXPECT_GT(count->by_operation.at("convolution"), 0);
  // upscore2, upscore_pool4 and upscore8 are transposed convolutions.
  EXPECT_GT(count->by_operation.at("transposed convolution"), 0);
  // Doubling the width quadruples every inner convolution (the first and the scores grow 2x).
  v1::ModelConfig wider = config;
  wider.mutable_fcn8s()->set_width_divisor(8);
  wider.mutable_fcn8s()->set_fc6_channels(64);
  wider.mutable_fcn8s()->set_fc7_channels(64);
  auto wide = CountMultiplyAccumulates(wider, 64);
  ASSERT_TRUE(wide.ok());
  EXPECT_GT(wide->total, 3 * count->total);
  EXPECT_LT(wide->total, 4 * count->total);
}

TEST(MacCountTest, RejectsATileThatIsNotAMultiple) {
  const v1::ModelConfig config = Parse(
      "architecture: \"unet\" unet { depth: 2 base_filters: 2 } "
      "classes: \"background\" classes: \"particle\"");
  auto count = CountMultiplyAccumulates(config, 6);
  ASSERT_FALSE(count.ok());
  EXPECT_EQ(count.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(count.status().message().find("multiple of 4"), std::string::npos);
  auto fourier = ParseModelConfig("architecture: \"fourier-bandpass\" pixel_size_nm: 0.02");
  ASSERT_TRUE(fourier.ok());
  EXPECT_EQ(CountMultiplyAccumulates(*fourier, 64).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace fringe
