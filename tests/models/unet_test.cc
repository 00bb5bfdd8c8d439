#include "models/unet.h"

#include <gtest/gtest.h>

#include "models/frame_segmenter.h"
#include "models/model_registry.h"
#include "models/torch_models.h"
#include "models/unet_onednn.h"
#include "tests/support/test_repository.h"

namespace fringe {
namespace {

TEST(UNetTest, OutputShapeMatchesInputAtAnyDepthAndDilation) {
  torch::NoGradGuard no_grad;
  for (int depth : {1, 2, 3}) {
    UNetOptions options;
    options.depth = depth;
    options.base_filters = 4;
    options.num_classes = 3;
    if (depth == 2) options.dilation = {1, 2, 4};
    UNet net(options);
    net->eval();
    const int side = 8 << depth;
    torch::Tensor y = net->forward(torch::randn({2, 1, side, side * 2}));
    EXPECT_EQ(y.sizes(), (std::vector<int64_t>{2, 3, side, side * 2})) << "depth " << depth;
  }
}

TEST(UNetTest, FoldingBatchNormKeepsTheOutput) {
  torch::manual_seed(3);
  UNetOptions options;
  options.depth = 2;
  options.base_filters = 4;
  UNet net(options);
  // Give BatchNorm non-trivial statistics by running a few training-mode batches.
  net->train();
  {
    torch::NoGradGuard no_grad;
    for (int i = 0; i < 5; ++i) net->forward(torch::randn({4, 1, 32, 32}) * 3 + 1);
  }
  net->eval();
  torch::NoGradGuard no_grad;
  const torch::Tensor x = torch::randn({2, 1, 32, 32});
  const torch::Tensor before = net->forward(x);
  net->FoldBatchNorm();
  const torch::Tensor after = net->forward(x);
  EXPECT_TRUE(torch::allclose(before, after, /*rtol=*/1e-4, /*atol=*/1e-5))
      << (before - after).abs().max().item<float>();
  // And it really changed the weights (otherwise the check above proves nothing).
  EXPECT_TRUE(net->down[0]->as<UNetBlock>()->first->folded());
}

TEST(UNetTest, SegmenterHandlesOddFrameSizes) {
  const std::string dir = testing::MakeTempDir("unet_odd");
  const v1::ModelConfig config = testing::TinyUNetConfig();
  testing::WriteUNetVersion(dir, "tiny", 1, config);
  auto model = ModelRegistry::WithBuiltins().Create(config, {dir + "/tiny/1", {}});
  ASSERT_TRUE(model.ok()) << model.status();
  EXPECT_GT((*model)->parameter_count(), 100);
  FrameSegmenterOptions options;
  options.tile_size = config.tile_size();
  options.tile_margin = config.tile_margin();
  for (auto [rows, cols] :
       std::vector<std::pair<int, int>>{{1, 1}, {37, 61}, {65, 129}, {3, 200}}) {
    cv::Mat frame(rows, cols, CV_32F);
    cv::randn(frame, 0, 1);
    auto out = SegmentFrame(**model, frame, options);
    ASSERT_TRUE(out.ok()) << out.status();
    EXPECT_EQ(out->mask.size(), frame.size());
    // Probabilities are a distribution over the two classes.
    const cv::Mat sum = out->class_probabilities[0] + out->class_probabilities[1];
    double lo, hi;
    cv::minMaxLoc(sum, &lo, &hi);
    EXPECT_NEAR(lo, 1.0, 1e-4);
    EXPECT_NEAR(hi, 1.0, 1e-4);
  }
}

TEST(UNetTest, LoadingRejectsWeightsOfAnotherShape) {
  const std::string dir = testing::MakeTempDir("unet_shape");
  v1::ModelConfig config = testing::TinyUNetConfig();
  testing::WriteUNetVersion(dir, "tiny", 1, config);
  config.mutable_unet()->set_base_filters(8);  // Weights were written for 4.
  auto model = LoadUNetSegmenter(config, dir + "/tiny/1/weights.pt", {});
  EXPECT_EQ(model.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(model.status().message().find("weights.pt"), std::string::npos) << model.status();
  EXPECT_EQ(LoadUNetSegmenter(config, dir + "/nope.pt", {}).status().code(),
            absl::StatusCode::kNotFound);
}

TEST(UNetTest, InitialWeightsAreSeeded) {
  const std::string dir = testing::MakeTempDir("unet_seed");
  const v1::ModelConfig config = testing::TinyUNetConfig();
  testing::WriteUNetVersion(dir, "a", 1, config, 7);
  testing::WriteUNetVersion(dir, "b", 1, config, 7);
  testing::WriteUNetVersion(dir, "c", 1, config, 8);
  auto run = [&](const std::string& name) {
    auto model = LoadUNetSegmenter(config, dir + "/" + name + "/1/weights.pt", {});
    EXPECT_TRUE(model.ok());
    std::vector<float> in(64 * 64, 0.5f), out;
    EXPECT_TRUE((*model)->Predict(in.data(), 1, 64, 64, &out).ok());
    return out;
  };
  EXPECT_EQ(run("a"), run("b"));
  EXPECT_NE(run("a"), run("c"));
}

TEST(UNetTest, OneDnnPlanMatchesTheEagerModule) {
  if (!UNetOneDnnPlan::Available()) GTEST_SKIP() << "LibTorch built without MKL-DNN";
  torch::manual_seed(11);
  for (bool dilated : {false, true}) {
    UNetOptions options;
    options.depth = 3;
    options.base_filters = 4;
    if (dilated) options.dilation = {1, 2, 3, 4};
    UNet net(options);
    net->train();
    {
      torch::NoGradGuard no_grad;
      for (int i = 0; i < 3; ++i) net->forward(torch::randn({2, 1, 32, 32}));
    }
    net->eval();
    net->FoldBatchNorm();
    torch::NoGradGuard no_grad;
    const UNetOneDnnPlan plan(net);
    const torch::Tensor x = torch::randn({3, 1, 48, 40});
    const torch::Tensor eager = net->forward(x);
    const torch::Tensor fast = plan.Forward(x);
    ASSERT_EQ(fast.sizes(), eager.sizes());
    EXPECT_TRUE(torch::allclose(fast, eager, 1e-4, 1e-4))
        << "dilated " << dilated << " max diff " << (fast - eager).abs().max().item<float>();
  }
}

}  // namespace
}  // namespace fringe
