#include "models/model_config.h"

#include <gtest/gtest.h>

namespace fringe {
namespace {

TEST(ModelConfigTest, ParsesAndFillsDefaults) {
  auto config = ParseModelConfig(R"pb(
    architecture: "unet"
    unet { depth: 3 base_filters: 8 batch_norm: true }
    tile_size: 256
    pixel_size_nm: 0.02
  )pb");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->unet().depth(), 3);
  EXPECT_EQ(config->tile_margin(), 32);
  ASSERT_EQ(config->classes_size(), 2);
  EXPECT_EQ(config->classes(1), "particle");
}

TEST(ModelConfigTest, RoundTripsThroughText) {
  auto config = ParseModelConfig("architecture: \"unet\" tile_size: 128");
  ASSERT_TRUE(config.ok());
  auto again = ParseModelConfig(ModelConfigToText(*config));
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->SerializeAsString(), config->SerializeAsString());
}

TEST(ModelConfigTest, SyntaxErrorsNameTheLine) {
  auto config = ParseModelConfig("architecture: \"unet\"\ntile_size: \"big\"\n");
  ASSERT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(config.status().message().find("line 2"), std::string::npos) << config.status();
}

TEST(ModelConfigTest, RejectsInconsistentValues) {
  struct Case {
    const char* text;
    const char* names;
  };
  for (const Case& c : {
           Case{"tile_size: 64", "architecture"},
           Case{"architecture: \"unet\" tile_size: 100", "multiple"},
           Case{"architecture: \"unet\" tile_size: 64 tile_margin: 40", "tile_margin"},
           Case{"architecture: \"unet\" unet { depth: 9 }", "unet.depth"},
           Case{"architecture: \"unet\" unet { depth: 2 dilation: [1, 2] }", "unet.dilation"},
           Case{"architecture: \"unet\" unet { dropout: 1.5 }", "dropout"},
           Case{"architecture: \"unet\" tile_size: 100000", "tile_size"},
       }) {
    auto config = ParseModelConfig(c.text);
    ASSERT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument) << c.text;
    EXPECT_NE(config.status().message().find(c.names), std::string::npos)
        << c.text << " -> " << config.status();
  }
}

TEST(ModelConfigTest, MissingFileIsNotFound) {
  EXPECT_EQ(LoadModelConfig("/nonexistent/config.pbtxt").status().code(),
            absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace fringe
