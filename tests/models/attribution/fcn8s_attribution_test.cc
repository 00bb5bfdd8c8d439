// The attribution engine on every served architecture beyond the U-Net: LRP on a canonised
// FCN8s-VGG16 (forward equivalence with and without BatchNorm, LRP-0 == gradient x input,
// conservation cut by cut, the composites at an odd size), and the gradient methods on a
// user's TorchScript model (written here by a torch::jit::Module defined in C++, saved and
// loaded back like any user file).
#include <gtest/gtest.h>
#include <stdlib.h>
#include <torch/script.h>
#include <torch/torch.h>

#include <filesystem>
#include <fstream>

#include "models/attribution/attribution.h"
#include "models/attribution/canonical_fcn8s.h"
#include "models/attribution/lrp.h"
#include "models/fcn8s.h"
#include "models/fcn8s_io.h"
#include "models/model_config.h"
#include "tests/models/attribution/attribution_test_util.h"

namespace fringe {
namespace {

using testing::RandomFrame;
using testing::ToTensor;

using attribution::CanonicalFCN8s;
using attribution::LrpEngine;
using attribution::LrpOptions;
using attribution::TargetSpec;

class Fcn8sAttributionTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { torch::set_num_threads(1); }
};

v1::ModelConfig FcnConfig(bool batch_norm) {
  v1::ModelConfig config;
  config.set_architecture("fcn8s");
  config.mutable_fcn8s()->set_width_divisor(16);  // Blocks of 4, 8, 16, 32, 32 channels.
  config.mutable_fcn8s()->set_fc6_channels(16);
  config.mutable_fcn8s()->set_fc7_channels(12);
  config.mutable_fcn8s()->set_fc6_kernel(3);
  config.mutable_fcn8s()->set_batch_norm(batch_norm);
  config.set_tile_size(64);
  config.set_tile_margin(8);
  config.set_pixel_size_nm(0.02);
  ApplyModelConfigDefaults(&config);
  return config;
}

// A seeded FCN8s in eval mode. The score layers start at zero in FCN8s (all logits 0), so they
// are drawn at random here; biases too, so that they matter. With BatchNorm a few
// training-mode batches give it non-trivial running statistics and affine parameters.
FCN8s MakeFcn(const v1::ModelConfig& config, uint64_t seed, bool zero_biases = false) {
  torch::manual_seed(seed);
  FCN8s net(FCN8sOptionsFromConfig(config));
  torch::NoGradGuard no_grad;
  for (torch::nn::Conv2d* score : {&net->score_fr, &net->score_pool4, &net->score_pool3}) {
    (*score)->weight.normal_(0, 0.5);
  }
  for (auto& item : net->named_parameters()) {
    if (item.key().find("bias") != std::string::npos) item.value().uniform_(-0.1, 0.2);
  }
  if (config.fcn8s().batch_norm()) {
    net->train();
    for (int i = 0; i < 3; ++i) net->forward(torch::randn({2, 1, 40, 40}) * 2 + 0.5);
    for (auto& item : net->named_parameters()) {
      if (item.key().find(".bn.") != std::string::npos) {
        item.value().copy_(torch::rand_like(item.value()) + 0.5);
      }
    }
  }
  if (zero_biases) {
    for (auto& item : net->named_parameters()) {
      if (item.key().find("bias") != std::string::npos) item.value().zero_();
    }
  }
  net->eval();
  return net;
}

std::unique_ptr<Explainer> LoadExplainer(FCN8s& net, const v1::ModelConfig& config) {
  return testing::LoadExplainerFor(net, config);
}

double MaxAbs(const cv::Mat& m) {
  double lo, hi;
  cv::minMaxLoc(m, &lo, &hi);
  return std::max(std::abs(lo), std::abs(hi));
}

AttributionRequest Request(const std::string& method,
                           std::map<std::string, std::string> parameters = {}) {
  return testing::BoxRequest(method, cv::Rect(8, 12, 30, 20), std::move(parameters));
}

TargetSpec BoxTarget(int rows, int cols, cv::Rect box, bool contrastive = false) {
  TargetSpec target;
  target.class_weights = torch::tensor({contrastive ? -1.0f : 0.0f, 1.0f});
  target.region = torch::zeros({1, 1, rows, cols});
  target.region.narrow(2, box.y, box.height).narrow(3, box.x, box.width).fill_(1.0);
  return target;
}

const std::vector<std::pair<int, int>> kSizes = {{64, 64}, {72, 88}};

// ---------------------------------------------------------------------------------------------
// FCN8s.

TEST_F(Fcn8sAttributionTest, CanonicalGraphReproducesTheModule) {
  for (bool batch_norm : {false, true}) {
    FCN8s net = MakeFcn(FcnConfig(batch_norm), 3);
    const CanonicalFCN8s canonical(net);
    EXPECT_EQ(canonical.layers().size(), 21u);
    EXPECT_EQ(canonical.layers().front().name, "conv1_1");
    EXPECT_EQ(canonical.layers().back().name, "upscore8");
    for (const auto& [rows, cols] : kSizes) {
      const torch::Tensor x = ToTensor(RandomFrame(rows, cols, 1));
      torch::NoGradGuard no_grad;
      const torch::Tensor expected = net->forward(x);
      const torch::Tensor got = canonical.Forward(x);
      ASSERT_EQ(got.sizes(), expected.sizes());
      EXPECT_EQ(got.size(2), rows);
      EXPECT_EQ(got.size(3), cols);
      const double scale = expected.abs().max().item<double>();
      EXPECT_GT(scale, 1e-3);
      EXPECT_LT((got - expected).abs().max().item<double>(), 1e-4 * scale)
          << "batch_norm " << batch_norm << " " << rows << "x" << cols;
    }
  }
}

TEST_F(Fcn8sAttributionTest, LrpZeroEqualsGradientTimesInput) {
  // A ReLU network made of linear maps, max-pools, crops and additions: LRP-0 (and epsilon 0)
  // is gradient x input, layer by layer, provided the additions split by contribution and the
  // crops and pools route relevance exactly where the gradient goes.
  for (bool batch_norm : {false, true}) {
    const v1::ModelConfig config = FcnConfig(batch_norm);
    FCN8s net = MakeFcn(config, 5, /*zero_biases=*/!batch_norm);
    auto explainer = LoadExplainer(net, config);
    ASSERT_NE(explainer, nullptr);
    for (const auto& [rows, cols] : kSizes) {
      const cv::Mat frame = RandomFrame(rows, cols, 2);
      auto gxi = explainer->Explain(frame, Request("gradient-x-input"));
      ASSERT_TRUE(gxi.ok()) << gxi.status();
      for (const auto& [method, params] :
           std::vector<std::pair<std::string, std::map<std::string, std::string>>>{
               {"lrp-zero", {}}, {"lrp-epsilon", {{"epsilon", "0"}}}}) {
        auto lrp = explainer->Explain(frame, Request(method, params));
        ASSERT_TRUE(lrp.ok()) << lrp.status();
        EXPECT_LT(MaxAbs(lrp->relevance - gxi->relevance), 1e-4 * MaxAbs(gxi->relevance))
            << method << " batch_norm " << batch_norm << " " << rows << "x" << cols;
        EXPECT_NEAR(lrp->target_value, gxi->target_value, 1e-5 * std::abs(gxi->target_value));
        if (!batch_norm) {  // Bias-free: everything is conserved too.
          EXPECT_NEAR(lrp->relevance_sum, lrp->target_value, 1e-4 * std::abs(lrp->target_value));
        }
      }
    }
  }
}

TEST_F(Fcn8sAttributionTest, BiasesAndStabilisersAbsorbExactlyWhatEachCutReports) {
  // With biases (BatchNorm folded in) and epsilon, each cut loses exactly what that layer's
  // bias / stabiliser terms (or an addition's stabiliser) took, computed independently.
  FCN8s net = MakeFcn(FcnConfig(true), 7);
  const LrpEngine engine(std::make_shared<CanonicalFCN8s>(net));
  const torch::Tensor x = ToTensor(RandomFrame(72, 88, 3));
  for (bool contrastive : {false, true}) {
    const TargetSpec target = BoxTarget(72, 88, cv::Rect(4, 6, 60, 50), contrastive);
    for (const std::string composite :
         {"epsilon", "epsilon-gamma-box", "epsilon-plus-flat", "alpha-beta", "zero"}) {
      SCOPED_TRACE(composite + (contrastive ? " contrastive" : ""));
      LrpOptions options;
      options.record_absorbed = true;
      options.rules = *attribution::ResolveLrpRules(engine.layers(), composite, {});
      const auto result = engine.Explain(x, target, options);
      double above = result.target_value, total_absorbed = 0;
      const double scale = std::abs(result.target_value) + 1.0;
      std::vector<std::string> names;
      for (const auto& record : result.layers) {
        EXPECT_NEAR(above - record.relevance_below, record.absorbed, 2e-4 * scale) << record.name;
        above = record.relevance_below;
        total_absorbed += record.absorbed;
        names.push_back(record.name);
      }
      EXPECT_EQ(names.front(), "upscore8");
      EXPECT_EQ(names.back(), "conv1_1");
      // 21 linear layers, 5 pools, 2 additions.
      EXPECT_EQ(names.size(), 28u);
      EXPECT_NE(std::find(names.begin(), names.end(), "fuse_pool4"), names.end());
      const double total = result.relevance.sum().item<double>();
      EXPECT_NEAR(result.target_value - total, total_absorbed, 1e-3 * scale);
      EXPECT_EQ(result.relevance.sizes(), x.sizes());
    }
  }
}

TEST_F(Fcn8sAttributionTest, EveryCutConservesWithoutBiases) {
  const v1::ModelConfig config = FcnConfig(false);
  FCN8s net = MakeFcn(config, 9, /*zero_biases=*/true);
  auto explainer = LoadExplainer(net, config);
  ASSERT_NE(explainer, nullptr);
  const cv::Mat frame = RandomFrame(72, 88, 4);
  const std::map<std::string, std::string> tiny = {{"epsilon", "1e-9"}, {"stabilizer", "1e-12"}};
  // Not alpha-beta: at a neuron whose inputs all push one way (likely in the 12-channel fc7
  // of this tiny net) its beta (or alpha) share has nowhere to go, so it is not conservative
  // even without biases; BiasesAndStabilisersAbsorbExactlyWhatEachCutReports accounts for it.
  for (const std::string method : {"lrp", "lrp-epsilon", "lrp-epsilon-plus-flat"}) {
    auto result = explainer->Explain(frame, Request(method, tiny));
    ASSERT_TRUE(result.ok()) << result.status();
    const double t = std::abs(result->target_value);
    ASSERT_GT(t, 1e-6);
    EXPECT_LT(std::abs(result->conservation_residual), 1e-3 * t) << method;
    ASSERT_EQ(result->layer_sums.size(), 28u);
    for (const auto& [name, sum] : result->layer_sums) {
      EXPECT_NEAR(sum, result->target_value, 1e-3 * t) << method << " " << name;
    }
    EXPECT_EQ(result->parameters.at("rule.conv1_1"), method == "lrp"           ? "zbox"
                                                     : method == "lrp-epsilon" ? "epsilon"
                                                                               : "flat");
  }
}

TEST_F(Fcn8sAttributionTest, CompositesAndCompanionsGiveFiniteInputSizedMaps) {
  const v1::ModelConfig config = FcnConfig(true);
  FCN8s net = MakeFcn(config, 11);
  auto explainer = LoadExplainer(net, config);
  ASSERT_NE(explainer, nullptr);
  EXPECT_EQ(explainer->input_multiple(), 1);
  EXPECT_EQ(explainer->num_classes(), 2);
  EXPECT_EQ(explainer->layer_names().size(), 21u);
  for (const auto& [rows, cols] : kSizes) {
    const cv::Mat frame = RandomFrame(rows, cols, 5);
    for (const std::string method :
         {"lrp", "lrp-epsilon-gamma-box", "lrp-epsilon-plus-flat", "gradient", "smoothgrad",
          "integrated-gradients", "grad-cam", "occlusion", "frequency-occlusion"}) {
      auto result = explainer->Explain(frame, Request(method));
      ASSERT_TRUE(result.ok()) << method << ": " << result.status();
      EXPECT_EQ(result->relevance.rows, rows) << method;
      EXPECT_EQ(result->relevance.cols, cols) << method;
      EXPECT_TRUE(cv::checkRange(result->relevance, /*quiet=*/true)) << method;
      EXPECT_GT(MaxAbs(result->relevance), 0) << method;
    }
  }
  // Overrides name FCN8s layers and groups.
  auto overridden = explainer->Explain(
      RandomFrame(64, 64, 6),
      Request("lrp", {{"rule.score_pool3", "zplus"}, {"rule.upsample", "zero"}}));
  ASSERT_TRUE(overridden.ok()) << overridden.status();
  EXPECT_EQ(overridden->parameters.at("rule.score_pool3"), "zplus");
  EXPECT_EQ(overridden->parameters.at("rule.upscore2"), "zero");
  EXPECT_EQ(overridden->parameters.at("rule.fc7"), "gamma");
  auto unknown =
      explainer->Explain(RandomFrame(64, 64, 6), Request("lrp", {{"rule.down.0", "zero"}}));
  EXPECT_EQ(unknown.status().code(), absl::StatusCode::kInvalidArgument);
}

// ---------------------------------------------------------------------------------------------
// TorchScript.

// conv 3x3 (1 -> 4), ReLU, conv 3x3 (4 -> 2): a TorchScript module compiled from source in
// C++ (torch::jit::Module::define), saved as a user's torch.jit.save would.
struct ScriptedNet {
  torch::Tensor w1, b1, w2, b2;
  std::string path;

  torch::Tensor Forward(const torch::Tensor& x) const {
    return torch::conv2d(torch::relu(torch::conv2d(x, w1, b1, 1, 1)), w2, b2, 1, 1);
  }
};

ScriptedNet WriteScriptedNet(const std::string& dir, const std::string& body) {
  torch::manual_seed(21);
  ScriptedNet net{torch::randn({4, 1, 3, 3}), torch::randn({4}) * 0.1, torch::randn({2, 4, 3, 3}),
                  torch::randn({2}) * 0.1, dir + "/model.pt"};
  torch::jit::Module module("__torch__.UserNet");
  module.register_parameter("w1", net.w1, false);
  module.register_parameter("b1", net.b1, false);
  module.register_parameter("w2", net.w2, false);
  module.register_parameter("b2", net.b2, false);
  module.define("def forward(self, x):\n" + body);
  module.save(net.path);
  return net;
}

constexpr char kConvBody[] =
    "    h = torch.relu(torch.conv2d(x, self.w1, self.b1, [1, 1], [1, 1]))\n"
    "    return torch.conv2d(h, self.w2, self.b2, [1, 1], [1, 1])\n";

TEST_F(Fcn8sAttributionTest, TorchScriptModelsGetTheGradientMethods) {
  const std::string dir = testing::MakeTempDir("fringe_fcn_attribution");
  const ScriptedNet net = WriteScriptedNet(dir, kConvBody);
  auto explainer = Explainer::LoadTorchScript(net.path);
  ASSERT_TRUE(explainer.ok()) << explainer.status();
  EXPECT_EQ((*explainer)->num_classes(), 2);
  EXPECT_EQ((*explainer)->input_multiple(), 1);
  EXPECT_TRUE((*explainer)->layer_names().empty());

  const cv::Mat frame = RandomFrame(40, 48, 7);
  const AttributionRequest request = Request("gradient-x-input");
  // Reference: the same function in eager C++.
  const torch::Tensor x = ToTensor(frame).requires_grad_(true);
  const torch::Tensor t = net.Forward(x)
                              .select(1, 1)
                              .narrow(1, request.target.box.y, request.target.box.height)
                              .narrow(2, request.target.box.x, request.target.box.width)
                              .sum();
  const torch::Tensor expected = (torch::autograd::grad({t}, {x})[0] * x).detach();
  auto gxi = (*explainer)->Explain(frame, request);
  ASSERT_TRUE(gxi.ok()) << gxi.status();
  EXPECT_NEAR(gxi->target_value, t.item<double>(), 1e-4 * std::abs(t.item<double>()));
  const cv::Mat expected_mat(40, 48, CV_32F, expected.data_ptr<float>());
  EXPECT_LT(MaxAbs(gxi->relevance - expected_mat), 1e-4 * MaxAbs(expected_mat));

  auto ig = (*explainer)->Explain(frame, Request("integrated-gradients", {{"steps", "128"}}));
  ASSERT_TRUE(ig.ok()) << ig.status();
  EXPECT_LT(std::abs(ig->conservation_residual), 2e-2 * std::abs(ig->target_value));
  for (const std::string method : {"gradient", "smoothgrad", "occlusion", "frequency-occlusion"}) {
    auto result = (*explainer)->Explain(frame, Request(method));
    ASSERT_TRUE(result.ok()) << method << ": " << result.status();
    EXPECT_EQ(result->relevance.size(), frame.size()) << method;
    EXPECT_TRUE(cv::checkRange(result->relevance, /*quiet=*/true)) << method;
  }
  for (const std::string method : {"lrp", "lrp-epsilon"}) {
    auto lrp = (*explainer)->Explain(frame, Request(method));
    EXPECT_EQ(lrp.status().code(), absl::StatusCode::kFailedPrecondition) << method;
    EXPECT_NE(lrp.status().message().find("LRP needs the layer structure"), std::string::npos);
  }
  EXPECT_EQ((*explainer)->Explain(frame, Request("grad-cam")).status().code(),
            absl::StatusCode::kInvalidArgument);
  std::filesystem::remove_all(dir);
}

TEST_F(Fcn8sAttributionTest, TorchScriptLoadRejectsWhatItCannotExplain) {
  const std::string dir = testing::MakeTempDir("fringe_fcn_attribution");
  EXPECT_EQ(Explainer::LoadTorchScript(dir + "/missing.pt").status().code(),
            absl::StatusCode::kNotFound);
  std::ofstream(dir + "/corrupt.pt") << "not a zip archive";
  EXPECT_EQ(Explainer::LoadTorchScript(dir + "/corrupt.pt").status().code(),
            absl::StatusCode::kInvalidArgument);
  // A model whose output is not N x C x H x W logits.
  const ScriptedNet scalar = WriteScriptedNet(dir, "    return x.sum()\n");
  auto status = Explainer::LoadTorchScript(scalar.path).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find("N x C x H x W"), std::string::npos) << status;
  // Architectures without weights to canonise are still refused by Load.
  v1::ModelConfig config = FcnConfig(false);
  config.set_architecture("fourier-bandpass");
  EXPECT_EQ(Explainer::Load(config, dir).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Explainer::Load(FcnConfig(false), dir + "/nothing").status().code(),
            absl::StatusCode::kNotFound);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace fringe
