#include "models/receptive_field.h"

#include <gtest/gtest.h>

#include "models/model_config.h"
#include "models/segmentation_net.h"

namespace fringe {
namespace {

v1::ModelConfig Parse(const std::string& text) {
  auto config = ParseModelConfig(text);
  EXPECT_TRUE(config.ok()) << config.status() << "\n" << text;
  return *config;
}

// The analytic interval of the probed output pixel equals the empirical gradient footprint,
// in rows and in columns, and the reported field is at least that wide.
void ExpectAnalyticMatchesEmpirical(const v1::ModelConfig& config, bool reduce_width) {
  SCOPED_TRACE(ModelConfigToText(config));
  ReceptiveFieldProbe probe;
  probe.reduce_width = reduce_width;
  auto footprint = EmpiricalReceptiveField(config, probe);
  ASSERT_TRUE(footprint.ok()) << footprint.status();
  EXPECT_FALSE(footprint->clipped) << "image " << footprint->image_size;
  auto rows = ReceptiveFieldInterval(config, footprint->output_row);
  auto cols = ReceptiveFieldInterval(config, footprint->output_col);
  ASSERT_TRUE(rows.ok() && cols.ok());
  EXPECT_EQ(rows->first, footprint->rows.first);
  EXPECT_EQ(rows->last, footprint->rows.last);
  EXPECT_EQ(cols->first, footprint->cols.first);
  EXPECT_EQ(cols->last, footprint->cols.last);
  // The field varies with the position inside the period of the strides; the reported one is
  // the largest, measured the same way.
  auto field = AnalyticReceptiveField(config);
  ASSERT_TRUE(field.ok());
  EXPECT_EQ(field->pixels, footprint->max_pixels);
  std::printf("%-52s analytic %4lld px, empirical %4lld px (centre pixel: %lld x %lld)\n",
              config.description().c_str(), static_cast<long long>(field->pixels),
              static_cast<long long>(footprint->max_pixels),
              static_cast<long long>(footprint->rows.size()),
              static_cast<long long>(footprint->cols.size()));
}

TEST(ReceptiveFieldTest, HandComputedUNet) {
  // Depth 1 by hand, output pixel 10: the decoder block's two 3x3 convs reach [8, 12] of the
  // concatenation; the skip half adds the encoder block: [6, 14]; the up half reads
  // bottleneck positions [4, 6] (2x2/2 transposed conv), whose block reaches [2, 8], the pool
  // [4, 17] and the encoder block [2, 19]: 18 pixels (the same for odd outputs).
  auto field = AnalyticReceptiveField(
      Parse("architecture: \"unet\" unet { depth: 1 base_filters: 2 } tile_size: 128 "
            "pixel_size_nm: 0.02"));
  ASSERT_TRUE(field.ok()) << field.status();
  EXPECT_EQ(field->pixels, 18);
  EXPECT_DOUBLE_EQ(field->nanometres, 18 * 0.02);
  // At another pixel size (a frame's calibration).
  field = AnalyticReceptiveField(
      Parse("architecture: \"unet\" unet { depth: 1 } tile_size: 128 pixel_size_nm: 0.02"), 0.05);
  EXPECT_DOUBLE_EQ(field->nanometres, 18 * 0.05);
  // Unknown pixel size: no nanometres.
  field = AnalyticReceptiveField(Parse("architecture: \"unet\" unet { depth: 1 } tile_size: 128"));
  EXPECT_EQ(field->nanometres, 0);
}

TEST(ReceptiveFieldTest, AnalyticMatchesEmpiricalOnUNets) {
  for (const char* text : {
           "description: \"unet depth 2\" unet { depth: 2 base_filters: 2 }",
           "description: \"unet depth 3\" unet { depth: 3 base_filters: 2 batch_norm: true }",
           "description: \"unet depth 2 dilated 1/2/4\" unet { depth: 2 base_filters: 2 "
           "dilation: [1, 2, 4] }",
           "description: \"unet depth 3 bottleneck dilation 4\" unet { depth: 3 base_filters: 2 "
           "dilation: [1, 1, 1, 4] }",
       }) {
    ExpectAnalyticMatchesEmpirical(
        Parse(std::string("architecture: \"unet\" tile_size: 128 ") + text),
        /*reduce_width=*/false);
  }
}

TEST(ReceptiveFieldTest, AnalyticMatchesEmpiricalOnFcn8s) {
  for (const char* text : {
           "description: \"fcn8s /16\" fcn8s { width_divisor: 16 fc6_channels: 8 "
           "fc7_channels: 8 }",
           "description: \"fcn8s /16 dilated\" fcn8s { width_divisor: 16 fc6_channels: 8 "
           "fc7_channels: 8 dilation: [1, 1, 2, 2, 2, 3] }",
           "description: \"fcn8s /16 fc6 3x3\" fcn8s { width_divisor: 16 fc6_channels: 8 "
           "fc7_channels: 8 fc6_kernel: 3 }",
       }) {
    // Probed at 1-8 channels: the same layer structure, fast in float64 on ~1000^2 images.
    ExpectAnalyticMatchesEmpirical(Parse(std::string("architecture: \"fcn8s\" ") + text),
                                   /*reduce_width=*/true);
  }
}

TEST(ReceptiveFieldTest, ShippedDefaultModel) {
  auto config =
      LoadModelConfig(std::string(FRINGE_SOURCE_DIR) + "/models/repository/default/1/config.pbtxt");
  ASSERT_TRUE(config.ok()) << config.status();
  config->set_description("shipped default U-Net (probe at reduced width)");
  ExpectAnalyticMatchesEmpirical(*config, /*reduce_width=*/true);
}

// The shipped dilated U-Net (the architecture study's best dilated candidate): its weights fit
// its config, and its field is the default's widened by the dilated bottleneck.
TEST(ReceptiveFieldTest, ShippedDilatedModel) {
  const std::string dir =
      std::string(FRINGE_SOURCE_DIR) + "/models/repository/unet-bottleneck-d2/1";
  auto config = LoadModelConfig(dir + "/config.pbtxt");
  ASSERT_TRUE(config.ok()) << config.status();
  ASSERT_EQ(config->unet().dilation_size(), 5);
  EXPECT_EQ(config->unet().dilation(4), 2);
  auto field = AnalyticReceptiveField(*config);
  ASSERT_TRUE(field.ok()) << field.status();
  EXPECT_EQ(field->pixels, 268);
  EXPECT_NEAR(field->nanometres, 268 * 0.0225, 1e-9);
  ExpectAnalyticMatchesEmpirical(*config, /*reduce_width=*/true);
  EXPECT_TRUE(LoadSegmentationNet(*config, dir + "/weights.pt").ok());
}

TEST(ReceptiveFieldTest, DilationWidensTheField) {
  auto pixels = [](const std::string& text) {
    auto field = AnalyticReceptiveField(Parse(text));
    EXPECT_TRUE(field.ok()) << field.status();
    return field.ok() ? field->pixels : 0;
  };
  const int64_t plain = pixels("architecture: \"unet\" unet { depth: 3 } tile_size: 128");
  const int64_t bottleneck =
      pixels("architecture: \"unet\" unet { depth: 3 dilation: [1, 1, 1, 4] } tile_size: 128");
  const int64_t all =
      pixels("architecture: \"unet\" unet { depth: 3 dilation: [2, 2, 2, 4] } tile_size: 128");
  EXPECT_LT(plain, bottleneck);
  EXPECT_LT(bottleneck, all);
  // The bottleneck's two convolutions sit at stride 8: dilation 4 adds 2 * 2 * (4 - 1) * 8.
  EXPECT_EQ(bottleneck - plain, 96);
  const int64_t fcn = pixels("architecture: \"fcn8s\" fcn8s { width_divisor: 8 }");
  const int64_t fcn_dilated =
      pixels("architecture: \"fcn8s\" fcn8s { width_divisor: 8 dilation: [1, 1, 1, 1, 2, 2] }");
  // conv5_x (3 convolutions at stride 16) and fc6 (7x7 at stride 32) with dilation 2:
  // 3 * 2 * 16 + 6 * 32 more.
  EXPECT_EQ(fcn_dilated - fcn, 3 * 2 * 16 + 6 * 32);
}

TEST(ReceptiveFieldTest, NonNetworksHaveNone) {
  auto config = ParseModelConfig("architecture: \"fourier-bandpass\" pixel_size_nm: 0.02");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(AnalyticReceptiveField(*config).status().code(), absl::StatusCode::kUnimplemented);
  v1::ReceptiveField proto;
  ReceptiveFieldToProto({120, 2.4}, &proto);
  EXPECT_EQ(proto.pixels(), 120);
  EXPECT_DOUBLE_EQ(proto.nanometres(), 2.4);
}

}  // namespace
}  // namespace fringe
