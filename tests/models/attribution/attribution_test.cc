// Faithfulness tests of the attribution engine (shared/DESIGN.md section 3): conservation,
// LRP-0 == gradient x input, Integrated Gradients completeness, the model-randomisation
// sanity check, BatchNorm canonisation, every layer type, every target kind, parameter
// validation, occlusion and Fourier-band occlusion. Tiny U-Nets (depth 2, base 4) on 32..64
// pixel frames, one intra-op thread.
#include "models/attribution/attribution.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <torch/torch.h>

#include <filesystem>
#include <opencv2/imgproc.hpp>
#include <set>
#include <thread>

#include "absl/strings/str_cat.h"
#include "models/attribution/canonical_unet.h"
#include "models/attribution/gradient_methods.h"
#include "models/attribution/lrp.h"
#include "models/model_config.h"
#include "models/unet.h"
#include "tests/models/attribution/attribution_test_util.h"

namespace fringe {
namespace {

using testing::RandomFrame;
using testing::ToTensor;

using attribution::CanonicalUNet;
using attribution::LinearLayer;
using attribution::LrpEngine;
using attribution::LrpOptions;
using attribution::LrpRule;
using attribution::TargetSpec;

class AttributionTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { torch::set_num_threads(1); }
};

UNetOptions TinyOptions(bool batch_norm = true, std::vector<int> dilation = {}) {
  UNetOptions options;
  options.depth = 2;
  options.base_filters = 4;
  options.num_classes = 2;
  options.batch_norm = batch_norm;
  options.dilation = std::move(dilation);
  return options;
}

// A seeded U-Net in eval mode. With BatchNorm, a few training-mode batches give it
// non-trivial running statistics, so folding them really changes the weights.
UNet MakeNet(const UNetOptions& options, uint64_t seed) {
  torch::manual_seed(seed);
  UNet net(options);
  if (options.batch_norm) {
    net->train();
    torch::NoGradGuard no_grad;
    for (int i = 0; i < 3; ++i) net->forward(torch::randn({4, 1, 32, 32}) * 2 + 0.5);
    // Non-trivial affine parameters too.
    for (auto& item : net->named_parameters()) {
      if (item.key().find(".bn.") != std::string::npos) {
        item.value().copy_(torch::rand_like(item.value()) + 0.5);
      }
    }
  }
  net->eval();
  return net;
}

void ZeroBiases(UNet& net) {
  torch::NoGradGuard no_grad;
  for (auto& item : net->named_parameters()) {
    if (item.key().find("bias") != std::string::npos) item.value().zero_();
  }
}

v1::ModelConfig ConfigFor(const UNetOptions& options) {
  v1::ModelConfig config;
  config.set_architecture("unet");
  config.mutable_unet()->set_depth(options.depth);
  config.mutable_unet()->set_base_filters(options.base_filters);
  config.mutable_unet()->set_batch_norm(options.batch_norm);
  for (int d : options.dilation) config.mutable_unet()->add_dilation(d);
  config.set_tile_size(64);
  config.set_tile_margin(8);
  config.set_pixel_size_nm(0.02);
  ApplyModelConfigDefaults(&config);
  return config;
}

std::unique_ptr<Explainer> LoadExplainer(UNet& net, const UNetOptions& options) {
  return testing::LoadExplainerFor(net, ConfigFor(options));
}

// Module logits (the reference the canonical form must reproduce).
torch::Tensor Logits(UNet& net, const cv::Mat& frame) {
  torch::NoGradGuard no_grad;
  return net->forward(ToTensor(frame));
}

TargetSpec BoxTarget(int rows, int cols, cv::Rect box, int class_index = 1) {
  TargetSpec target;
  target.class_weights = torch::zeros({2});
  target.class_weights[class_index] = 1.0;
  target.region = torch::zeros({1, 1, rows, cols});
  target.region.narrow(2, box.y, box.height).narrow(3, box.x, box.width).fill_(1.0);
  return target;
}

AttributionRequest Request(const std::string& method,
                           std::map<std::string, std::string> parameters = {}) {
  return testing::BoxRequest(method, cv::Rect(8, 12, 20, 16), std::move(parameters));
}

double MaxAbs(const cv::Mat& m) {
  double lo, hi;
  cv::minMaxLoc(m, &lo, &hi);
  return std::max(std::abs(lo), std::abs(hi));
}

double Spearman(const torch::Tensor& a, const torch::Tensor& b) {
  auto ranks = [](const torch::Tensor& t) {
    return t.flatten().argsort().argsort().to(torch::kFloat64);
  };
  const torch::Tensor ra = ranks(a) - ranks(a).mean(), rb = ranks(b) - ranks(b).mean();
  return ((ra * rb).sum() / (ra.norm() * rb.norm())).item<double>();
}

// ---------------------------------------------------------------------------------------------
// Canonisation and layer types.

TEST_F(AttributionTest, CanonisationKeepsTheForwardOutput) {
  for (auto dilation : {std::vector<int>{}, std::vector<int>{1, 2, 3}}) {
    UNet net = MakeNet(TinyOptions(true, dilation), 3);
    const cv::Mat frame = RandomFrame(32, 48, 1);
    const torch::Tensor before = Logits(net, frame);
    const CanonicalUNet canonical(net);
    torch::NoGradGuard no_grad;
    const torch::Tensor after = canonical.Forward(ToTensor(frame));
    EXPECT_TRUE(torch::allclose(before, after, 1e-4, 1e-5))
        << (before - after).abs().max().item<float>();
    // BatchNorm really was folded (the canonical weights differ from the raw ones) and the
    // module itself was left alone.
    const torch::Tensor raw = net->down[0]->as<UNetBlock>()->first->conv->weight;
    EXPECT_FALSE(torch::allclose(canonical.layers()[0].weight, raw));
    EXPECT_FALSE(net->down[0]->as<UNetBlock>()->first->folded());
    // The names the composites and overrides use.
    EXPECT_EQ(canonical.layers()[canonical.DownFirst(0)].name, "down.0.first");
    EXPECT_EQ(canonical.layers()[canonical.Up(1)].name, "up.1");
    EXPECT_EQ(canonical.layers()[canonical.UpSecond(0)].name, "up_blocks.0.second");
    EXPECT_EQ(canonical.layers()[canonical.Head()].name, "head");
  }
}

TEST_F(AttributionTest, AdjointsMatchEveryLayerKindIncludingDilated) {
  // LRP redistributes with ApplyAdjoint; it must be the exact transpose of Apply for the
  // plain, dilated, 1x1 and transposed layers: <Apply(x), s> == <x, ApplyAdjoint(s)>.
  UNet net = MakeNet(TinyOptions(false, {1, 2, 3}), 5);
  const CanonicalUNet canonical(net);
  torch::NoGradGuard no_grad;
  std::set<std::string> kinds;
  for (const LinearLayer& layer : canonical.layers()) {
    const int64_t side = layer.kind == LinearLayer::Kind::kTransposed ? 5 : 9;
    const torch::Tensor x = torch::randn({1, layer.in_channels(), side, side + 2});
    const torch::Tensor y = layer.Apply(x, layer.weight);
    const torch::Tensor s = torch::randn_like(y);
    const torch::Tensor back = layer.ApplyAdjoint(s, layer.AdjointWeight(layer.weight));
    ASSERT_EQ(back.sizes(), x.sizes()) << layer.name;
    EXPECT_NEAR((y * s).sum().item<double>(), (x * back).sum().item<double>(),
                1e-3 * (y * s).abs().sum().item<double>())
        << layer.name;
    kinds.insert(layer.kind == LinearLayer::Kind::kTransposed
                     ? "transposed"
                     : absl::StrCat("k", layer.weight.size(2), "d", layer.dilation));
  }
  EXPECT_EQ(kinds, (std::set<std::string>{"transposed", "k1d1", "k3d1", "k3d2", "k3d3"}));
}

TEST_F(AttributionTest, MaxPoolingRoutesRelevanceToTheWinner) {
  // 4x4 input, 2x2 windows with winners at known places (one negative window too).
  const torch::Tensor input = torch::tensor({{0.f, 5.f, 1.f, 0.f},  //
                                             {2.f, 1.f, 0.f, 7.f},  //
                                             {-3.f, -1.f, 4.f, 4.5f},
                                             {-2.f, -5.f, 1.f, 0.f}})
                                  .reshape({1, 1, 4, 4});
  auto [pooled, indices] = torch::max_pool2d_with_indices(input, 2, 2);
  const torch::Tensor relevance = torch::tensor({1.f, 2.f, 3.f, 4.f}).reshape({1, 1, 2, 2});
  const torch::Tensor routed = attribution::MaxPoolRelevance(relevance, indices, input.sizes());
  const torch::Tensor expected = torch::tensor({{0.f, 1.f, 0.f, 0.f},  //
                                                {0.f, 0.f, 0.f, 2.f},  //
                                                {0.f, 3.f, 0.f, 4.f},  //
                                                {0.f, 0.f, 0.f, 0.f}})
                                     .reshape({1, 1, 4, 4});
  EXPECT_TRUE(torch::equal(routed, expected)) << routed;
}

TEST_F(AttributionTest, TransposedConvolutionIsALinearLayer) {
  // One input channel, one output channel, k = stride = 2, no bias: each output pixel has a
  // single contributor, so LRP-0 gives every input pixel exactly the relevance of its 2x2
  // output block, whatever the weights.
  LinearLayer layer;
  layer.name = "up.test";
  layer.kind = LinearLayer::Kind::kTransposed;
  layer.weight = torch::tensor({0.5f, -1.5f, 2.0f, 0.25f}).reshape({1, 1, 2, 2});
  layer.bias = torch::zeros({1});
  layer.relu = false;
  UNet net = MakeNet(TinyOptions(false), 1);
  const LrpEngine engine(std::make_shared<CanonicalUNet>(net));
  torch::NoGradGuard no_grad;
  const torch::Tensor a = torch::rand({1, 1, 3, 4}) + 0.1;
  const torch::Tensor r = torch::rand({1, 1, 6, 8});
  LrpOptions options;
  double absorbed = 1;
  const torch::Tensor back =
      engine.PropagateLayer(-1, layer, LrpRule::kZero, a, {}, r, options, &absorbed);
  EXPECT_TRUE(torch::allclose(back, torch::avg_pool2d(r, 2) * 4, 1e-5, 1e-6)) << back;
  EXPECT_NEAR(absorbed, 0.0, 1e-5);

  // Several channels: LRP-0 on a linear layer is gradient x input of sum(R / z * z).
  layer.weight = torch::randn({3, 2, 2, 2});
  layer.bias = torch::zeros({2});
  const torch::Tensor x = torch::rand({1, 3, 4, 4});
  const torch::Tensor z = layer.Apply(x, layer.weight);
  const torch::Tensor rel = torch::rand_like(z);
  const torch::Tensor lrp =
      engine.PropagateLayer(-1, layer, LrpRule::kZero, x, {}, rel, options, nullptr);
  torch::AutoGradMode grad_mode(true);
  const torch::Tensor xg = x.clone().requires_grad_(true);
  const torch::Tensor f = (layer.Apply(xg, layer.weight) * (rel / z)).sum();
  const torch::Tensor gxi = torch::autograd::grad({f}, {xg})[0] * x;
  EXPECT_TRUE(torch::allclose(lrp, gxi, 1e-4, 1e-5));
}

TEST_F(AttributionTest, EveryRuleMatchesItsTextbookFormula) {
  // A dense layer (1x1 convolution on one pixel), z_ij written out contribution by
  // contribution as in Montavon et al. 2019, against the convolution-based implementation;
  // with a signed input (the split a+ / a- paths) and a non-negative one (the fast paths).
  UNet net = MakeNet(TinyOptions(false), 2);
  const LrpEngine engine(std::make_shared<CanonicalUNet>(net));
  torch::NoGradGuard no_grad;
  const int64_t in = 5, out = 3;
  LinearLayer layer;
  layer.name = "dense";
  layer.group = "first";  // So the z-box bounds below apply to it.
  layer.weight = torch::randn({out, in, 1, 1}, torch::kFloat64).to(torch::kFloat32);
  layer.bias = torch::randn({out}) * 0.3;
  const torch::Tensor w = layer.weight.reshape({out, in}).to(torch::kFloat64).t();  // [i, j]
  const torch::Tensor b = layer.bias.to(torch::kFloat64);
  const double gamma = 0.3, alpha = 2, beta = 1, eps = 0.1, lo = -2, hi = 3;
  for (bool signed_input : {true, false}) {
    torch::Tensor a = torch::randn({in}, torch::kFloat64);
    if (!signed_input) a = a.abs();
    layer.nonnegative_input = !signed_input;
    const torch::Tensor r = torch::randn({out}, torch::kFloat64);
    const torch::Tensor aw = a.reshape({in, 1}) * w;  // z_ij = a_i w_ij
    auto redistribute = [&](const torch::Tensor& zij, const torch::Tensor& zj) {
      return (zij / zj.reshape({1, out}) * r.reshape({1, out})).sum(1);
    };
    auto sign = [](const torch::Tensor& z) { return torch::where(z >= 0, 1.0, -1.0); };
    std::map<LrpRule, torch::Tensor> expected;
    {
      const torch::Tensor zj = aw.sum(0) + b;
      expected[LrpRule::kEpsilon] = redistribute(aw, zj + eps * sign(zj));
      expected[LrpRule::kZero] = redistribute(aw, zj);
    }
    {
      const torch::Tensor zij = aw + gamma * aw.clamp_min(0);
      expected[LrpRule::kGamma] = redistribute(zij, zij.sum(0) + b + gamma * b.clamp_min(0));
    }
    {
      const torch::Tensor zij = aw.clamp_min(0);
      expected[LrpRule::kZPlus] = redistribute(zij, zij.sum(0) + b.clamp_min(0));
    }
    {
      const torch::Tensor p = aw.clamp_min(0), n = aw.clamp_max(0);
      expected[LrpRule::kAlphaBeta] = alpha * redistribute(p, p.sum(0) + b.clamp_min(0)) -
                                      beta * redistribute(n, n.sum(0) + b.clamp_max(0));
    }
    {
      const torch::Tensor ones = torch::ones_like(w);
      expected[LrpRule::kFlat] = redistribute(ones, ones.sum(0));
      expected[LrpRule::kWSquare] = redistribute(w * w, (w * w).sum(0));
      const torch::Tensor zij = aw - lo * w.clamp_min(0) - hi * w.clamp_max(0);
      expected[LrpRule::kZBox] = redistribute(zij, zij.sum(0));
    }
    LrpOptions options;
    options.epsilon = eps;
    options.relative_epsilon = false;
    options.gamma = gamma;
    options.stabilizer = 1e-12;
    options.low = lo;
    options.high = hi;
    for (const auto& [rule, reference] : expected) {
      const torch::Tensor got =
          engine.PropagateLayer(-1, layer, rule, a.to(torch::kFloat32).reshape({1, in, 1, 1}), {},
                                r.to(torch::kFloat32).reshape({1, out, 1, 1}), options, nullptr);
      EXPECT_TRUE(torch::allclose(got.reshape({in}).to(torch::kFloat64), reference, 1e-4, 1e-5))
          << attribution::LrpRuleName(rule) << " signed " << signed_input << "\n"
          << got.reshape({in}) << "\n"
          << reference;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Conservation.

TEST_F(AttributionTest, EveryCompositeConservesWithoutBiases) {
  for (auto dilation : {std::vector<int>{}, std::vector<int>{1, 2, 3}}) {
    UNet net = MakeNet(TinyOptions(false, dilation), 7);
    ZeroBiases(net);
    const LrpEngine engine(std::make_shared<CanonicalUNet>(net));
    const cv::Mat frame = RandomFrame(32, 32, 2);
    const TargetSpec target = BoxTarget(32, 32, cv::Rect(4, 8, 20, 12));
    for (const std::string composite :
         {"epsilon", "zero", "gamma", "zplus", "alpha-beta", "epsilon-gamma-box",
          "epsilon-plus-flat", "epsilon-alpha2-beta1-flat"}) {
      SCOPED_TRACE(absl::StrCat(composite, " dilated ", !dilation.empty()));
      LrpOptions options;
      options.epsilon = 1e-9;
      options.stabilizer = 1e-12;
      // z+ and alpha-beta conserve R_j only where a neuron has positive (and, for beta > 0,
      // negative) contributions; at a 4-channel head many pixels have none, so the uniform
      // composites keep an epsilon head here.
      const bool positive_only = composite == "zplus" || composite == "alpha-beta";
      std::map<std::string, std::string> overrides;
      if (positive_only) overrides["head"] = "epsilon";
      // On the signed image, a 3x3 kernel of one sign has windows with no positive (or no
      // negative) contribution, where alpha-beta sends back -beta R_j (or alpha R_j): the
      // input layer gets an input rule, as in practice.
      if (composite == "alpha-beta") overrides["first"] = "zbox";
      options.rules = *attribution::ResolveLrpRules(engine.net(), composite, overrides);
      const auto result = engine.Explain(ToTensor(frame), target, options);
      const double total = result.relevance.sum().item<double>();
      ASSERT_GT(std::abs(result.target_value), 1e-3);
      // z+ / alpha-beta drop the R_j of decoder neurons without positive contributions
      // (z+_j = 0): rare, ~0.1% of the relevance flowing through (sum |R_out|) here.
      double flowing;
      {
        torch::NoGradGuard no_grad;
        flowing = target.Map(engine.net().Forward(ToTensor(frame))).abs().sum().item<double>();
      }
      const double tolerance =
          positive_only ? 1e-2 * flowing : 1e-3 * std::abs(result.target_value);
      EXPECT_NEAR(total, result.target_value, tolerance);
      // And on every cut in between.
      for (const auto& record : result.layers) {
        EXPECT_NEAR(record.relevance_below, result.target_value, tolerance) << record.name;
      }
    }
  }
}

TEST_F(AttributionTest, BiasesAbsorbExactlyWhatTheLayersReport) {
  // With biases (and BatchNorm folded into them) relevance is not conserved; the loss at each
  // layer must be what that layer's bias / stabiliser terms took, computed independently.
  UNet net = MakeNet(TinyOptions(true), 9);
  const LrpEngine engine(std::make_shared<CanonicalUNet>(net));
  const cv::Mat frame = RandomFrame(32, 32, 3);
  const TargetSpec target = BoxTarget(32, 32, cv::Rect(0, 0, 32, 32));
  for (const std::string composite :
       {"epsilon", "epsilon-gamma-box", "epsilon-plus-flat", "alpha-beta", "ignore-bias"}) {
    SCOPED_TRACE(composite);
    LrpOptions options;
    // ignore_bias leaves the biases out of every denominator; the stabiliser still absorbs.
    options.ignore_bias = composite == "ignore-bias";
    options.record_absorbed = true;
    options.rules = *attribution::ResolveLrpRules(
        engine.net(), options.ignore_bias ? "epsilon-plus-flat" : composite, {});
    const auto result = engine.Explain(ToTensor(frame), target, options);
    double above = result.target_value, total_absorbed = 0;
    const double scale = std::abs(result.target_value) + 1.0;
    for (const auto& record : result.layers) {
      EXPECT_NEAR(above - record.relevance_below, record.absorbed, 2e-4 * scale) << record.name;
      above = record.relevance_below;
      total_absorbed += record.absorbed;
    }
    const double total = result.relevance.sum().item<double>();
    EXPECT_NEAR(result.target_value - total, total_absorbed, 1e-3 * scale);
    // The biases do matter here (otherwise the check proves nothing).
    EXPECT_GT(std::abs(total_absorbed), 1e-3 * scale);
  }
}

TEST_F(AttributionTest, ExplainerResidualVanishesWithoutBiases) {
  // Through the public API: biases absorb relevance (a clear residual); the same network with
  // its biases zeroed conserves it on every cut, whatever the composite.
  const UNetOptions options = TinyOptions(false);
  UNet net = MakeNet(options, 11);
  {
    torch::NoGradGuard no_grad;
    for (auto& item : net->named_parameters()) {
      if (item.key().find("bias") != std::string::npos) item.value().uniform_(0.05, 0.3);
    }
  }
  auto biased = LoadExplainer(net, options);
  ZeroBiases(net);
  auto unbiased = LoadExplainer(net, options);
  const cv::Mat frame = RandomFrame(64, 64, 4);
  for (const std::string method :
       {"lrp", "lrp-epsilon-plus-flat", "lrp-epsilon-alpha2-beta1-flat"}) {
    const std::map<std::string, std::string> tiny = {{"epsilon", "1e-9"}, {"stabilizer", "1e-12"}};
    auto with_bias = biased->Explain(frame, Request(method, tiny));
    auto without = unbiased->Explain(frame, Request(method, tiny));
    ASSERT_TRUE(with_bias.ok() && without.ok()) << with_bias.status() << without.status();
    EXPECT_GT(std::abs(with_bias->conservation_residual), 1e-2 * std::abs(with_bias->target_value))
        << method;
    const double t = std::abs(without->target_value);
    EXPECT_LT(std::abs(without->conservation_residual), 1e-3 * t) << method;
    ASSERT_FALSE(without->layer_sums.empty());
    EXPECT_EQ(without->layer_sums.front().first, "head");
    EXPECT_EQ(without->layer_sums.back().first, "down.0.first");
    for (const auto& [name, sum] : without->layer_sums) {
      EXPECT_NEAR(sum, without->target_value, 1e-3 * t) << method << " " << name;
    }
    EXPECT_EQ(without->parameters.at("rule.down.0.first"), method == "lrp" ? "zbox" : "flat");
  }
}

TEST_F(AttributionTest, EpsilonIsRelativeToEachLayersScale) {
  // Scaling the head by k scales T and every relevance by k. With epsilon in units of each
  // layer's std(z) the map scales exactly; an absolute epsilon does not.
  const UNetOptions options = TinyOptions(true);
  UNet net = MakeNet(options, 19);
  auto base = LoadExplainer(net, options);
  {
    torch::NoGradGuard no_grad;
    net->head->weight.mul_(8.0);
    net->head->bias.mul_(8.0);
  }
  auto scaled = LoadExplainer(net, options);
  const cv::Mat frame = RandomFrame(32, 32, 14);
  auto r1 = base->Explain(frame, Request("lrp-epsilon"));
  auto r8 = scaled->Explain(frame, Request("lrp-epsilon"));
  ASSERT_TRUE(r1.ok() && r8.ok());
  EXPECT_NEAR(r8->target_value, 8 * r1->target_value, 1e-4 * std::abs(r8->target_value));
  EXPECT_LT(MaxAbs(r8->relevance - 8 * r1->relevance), 1e-4 * MaxAbs(r8->relevance));
  auto a1 = base->Explain(frame, Request("lrp-epsilon", {{"absolute_epsilon", "true"}}));
  auto a8 = scaled->Explain(frame, Request("lrp-epsilon", {{"absolute_epsilon", "true"}}));
  ASSERT_TRUE(a1.ok() && a8.ok());
  EXPECT_GT(MaxAbs(a8->relevance - 8 * a1->relevance), 1e-2 * MaxAbs(a8->relevance));
}

TEST_F(AttributionTest, LrpZeroEqualsGradientTimesInput) {
  // On a ReLU network LRP-0 is gradient x input at every layer (biases included): R_j / z_j
  // is dT/dz_j wherever the ReLU is open. Covers plain and dilated nets with BatchNorm.
  for (auto dilation : {std::vector<int>{}, std::vector<int>{1, 2, 3}}) {
    const UNetOptions options = TinyOptions(true, dilation);
    UNet net = MakeNet(options, 13);
    auto explainer = LoadExplainer(net, options);
    const cv::Mat frame = RandomFrame(64, 32, 5);
    auto lrp = explainer->Explain(frame, Request("lrp-zero"));
    auto gxi = explainer->Explain(frame, Request("gradient-x-input"));
    ASSERT_TRUE(lrp.ok() && gxi.ok()) << lrp.status() << gxi.status();
    EXPECT_LT(MaxAbs(lrp->relevance - gxi->relevance), 1e-4 * MaxAbs(gxi->relevance))
        << "dilated " << !dilation.empty();
    EXPECT_NEAR(lrp->target_value, gxi->target_value, 1e-5 * std::abs(gxi->target_value));
  }
}

TEST_F(AttributionTest, SkipConcatenationSplitsRelevanceByChannel) {
  UNet net = MakeNet(TinyOptions(false), 15);
  ZeroBiases(net);
  const LrpEngine engine(std::make_shared<CanonicalUNet>(net));
  LrpOptions options;
  options.epsilon = 1e-9;
  const auto result = engine.Explain(ToTensor(RandomFrame(32, 32, 6)),
                                     BoxTarget(32, 32, cv::Rect(0, 0, 32, 32)), options);
  ASSERT_EQ(result.concat_splits.size(), 2u);
  for (const auto& split : result.concat_splits) {
    EXPECT_NEAR(split.total, split.upsampled + split.skip, 1e-5 * std::abs(split.total));
    // Both branches carry relevance.
    EXPECT_GT(std::abs(split.skip), 1e-5 * std::abs(split.total)) << split.level;
    EXPECT_GT(std::abs(split.upsampled), 1e-5 * std::abs(split.total)) << split.level;
  }
  // The skip share rejoins at the encoder: the cut totals stay conserved across both pools.
  for (const auto& record : result.layers) {
    EXPECT_NEAR(record.relevance_below, result.target_value, 1e-3 * std::abs(result.target_value))
        << record.name;
  }
}

// ---------------------------------------------------------------------------------------------
// Companion methods.

TEST_F(AttributionTest, IntegratedGradientsIsComplete) {
  const UNetOptions options = TinyOptions(true);
  UNet net = MakeNet(options, 17);
  auto explainer = LoadExplainer(net, options);
  const cv::Mat frame = RandomFrame(64, 64, 7);
  for (const std::string baseline : {"0", "0.5"}) {
    auto ig = explainer->Explain(
        frame, Request("integrated-gradients", {{"steps", "64"}, {"baseline", baseline}}));
    ASSERT_TRUE(ig.ok()) << ig.status();
    const double change = ig->target_value - ig->reference_value;
    ASSERT_GT(std::abs(change), 1e-2);
    EXPECT_LT(std::abs(ig->conservation_residual), 0.01 * std::abs(change))
        << "baseline " << baseline << ": sum " << ig->relevance_sum << " vs " << change;
  }
}

TEST_F(AttributionTest, RelevanceDependsOnTheLearnedWeights) {
  // Model-parameter randomisation (Adebayo et al. 2018): explanations of a trained model must
  // differ from those of the same architecture with random weights. Train on a toy task where
  // the particle class is a bright striped disk.
  const UNetOptions options = TinyOptions(true);
  torch::manual_seed(21);
  UNet trained(options);
  auto make_batch = [](int n, int side, uint64_t seed) {
    torch::manual_seed(seed);
    const torch::Tensor yy = torch::arange(side).reshape({side, 1}).to(torch::kFloat32);
    const torch::Tensor xx = torch::arange(side).reshape({1, side}).to(torch::kFloat32);
    std::vector<torch::Tensor> images, labels;
    for (int i = 0; i < n; ++i) {
      const float cy = 8 + torch::rand({1}).item<float>() * (side - 16);
      const float cx = 8 + torch::rand({1}).item<float>() * (side - 16);
      const torch::Tensor disk = ((yy - cy).pow(2) + (xx - cx).pow(2) < 36).to(torch::kFloat32);
      const torch::Tensor stripes = torch::cos(xx * 2.0f);
      images.push_back(disk * (1 + stripes) + 0.3 * torch::randn({side, side}));
      labels.push_back(disk.to(torch::kLong));
    }
    torch::Tensor x = torch::stack(images).unsqueeze(1);
    x = (x - x.mean()) / x.std();
    return std::make_pair(x, torch::stack(labels));
  };
  torch::optim::Adam adam(trained->parameters(), torch::optim::AdamOptions(1e-2));
  trained->train();
  for (int step = 0; step < 60; ++step) {
    auto [x, y] = make_batch(8, 32, 100 + step);
    adam.zero_grad();
    const torch::Tensor loss = torch::nn::functional::cross_entropy(trained->forward(x), y);
    loss.backward();
    adam.step();
  }
  trained->eval();
  UNet random = MakeNet(options, 22);
  auto a = LoadExplainer(trained, options);
  auto b = LoadExplainer(random, options);
  auto [x, y] = make_batch(1, 32, 999);
  cv::Mat frame(32, 32, CV_32F, x.data_ptr<float>());
  frame = frame.clone();
  // The trained model found the disk.
  const torch::Tensor predicted = Logits(trained, frame).argmax(1);
  EXPECT_GT((predicted == y).to(torch::kFloat32).mean().item<double>(), 0.85);
  // Explain "the particles each model found" (and, for the default composite, the whole
  // frame). A small box target would not do: the receptive field around the box dominates
  // |R| for any weights. Measured here: the default composite ~0.0 (predicted) / 0.14 (whole
  // frame), alpha-beta 0.03, epsilon 0.27, gradient x input 0.29, occlusion 0.0; the flat
  // input rule of epsilon-plus-flat smooths the maps and stays near 0.5-0.57, so it is not
  // asserted.
  for (const std::string method :
       {"lrp", "lrp-alpha-beta", "lrp-epsilon", "gradient-x-input", "occlusion"}) {
    AttributionRequest request = Request(method);
    request.target.kind = AttributionTarget::Kind::kPredicted;
    auto ra = a->Explain(frame, request);
    auto rb = b->Explain(frame, request);
    ASSERT_TRUE(ra.ok() && rb.ok());
    EXPECT_LT(Spearman(ToTensor(cv::abs(ra->relevance)), ToTensor(cv::abs(rb->relevance))), 0.5)
        << method;
  }
  AttributionRequest request = Request("lrp");
  request.target.box = cv::Rect(0, 0, 32, 32);
  auto ra = a->Explain(frame, request);
  auto rb = b->Explain(frame, request);
  ASSERT_TRUE(ra.ok() && rb.ok());
  EXPECT_LT(Spearman(ToTensor(cv::abs(ra->relevance)), ToTensor(cv::abs(rb->relevance))), 0.5);
}

TEST_F(AttributionTest, EveryTargetKindExplainsTheLogitSumItNames) {
  const UNetOptions options = TinyOptions(true);
  UNet net = MakeNet(options, 23);
  auto explainer = LoadExplainer(net, options);
  const cv::Mat frame = RandomFrame(32, 64, 8);
  const torch::Tensor logits = Logits(net, frame)[0];  // C x H x W
  const torch::Tensor contrast = logits[1] - logits[0];
  cv::Mat mask = cv::Mat::zeros(32, 64, CV_8U);
  cv::circle(mask, {40, 16}, 9, 255, -1);
  const torch::Tensor mask_t = ToTensor([&] {
    cv::Mat m;
    mask.convertTo(m, CV_32F, 1.0 / 255);
    return m;
  }());
  struct Case {
    AttributionTarget target;
    double expected;
  };
  std::vector<Case> cases;
  {
    AttributionTarget t;
    t.kind = AttributionTarget::Kind::kPredicted;
    t.class_index = 1;
    const torch::Tensor region = (logits.argmax(0) == 1).to(torch::kFloat32);
    ASSERT_GT(region.sum().item<double>(), 0);
    cases.push_back({t, (logits[1] * region).sum().item<double>()});
    t.class_index = 0;
    t.contrastive = true;
    const torch::Tensor region0 = (logits.argmax(0) == 0).to(torch::kFloat32);
    cases.push_back({t, (-contrast * region0).sum().item<double>()});
  }
  {
    AttributionTarget t;
    t.kind = AttributionTarget::Kind::kMask;
    t.mask = mask;
    cases.push_back({t, (logits[1] * mask_t[0][0]).sum().item<double>()});
    t.contrastive = true;
    cases.push_back({t, (contrast * mask_t[0][0]).sum().item<double>()});
  }
  {
    AttributionTarget t;
    t.kind = AttributionTarget::Kind::kBox;
    t.box = cv::Rect(50, 20, 30, 30);  // Clipped to the frame: columns 50..63, rows 20..31.
    cases.push_back({t, logits[1].narrow(0, 20, 12).narrow(1, 50, 14).sum().item<double>()});
  }
  {
    AttributionTarget t;
    t.kind = AttributionTarget::Kind::kPixel;
    t.pixel = cv::Point(5, 30);
    t.class_index = 0;
    cases.push_back({t, logits[0][30][5].item<double>()});
  }
  for (size_t i = 0; i < cases.size(); ++i) {
    for (const std::string method : {"lrp", "gradient"}) {
      AttributionRequest request;
      request.method = method;
      request.target = cases[i].target;
      auto result = explainer->Explain(frame, request);
      ASSERT_TRUE(result.ok()) << result.status();
      EXPECT_NEAR(result->target_value, cases[i].expected, 1e-4 * (1 + std::abs(cases[i].expected)))
          << "case " << i << " " << method;
    }
  }
}

TEST_F(AttributionTest, BadRequestsNameTheProblem) {
  const UNetOptions options = TinyOptions(true);
  UNet net = MakeNet(options, 25);
  auto explainer = LoadExplainer(net, options);
  const cv::Mat frame = RandomFrame(32, 32, 9);
  auto expect_invalid = [&](const AttributionRequest& request, const std::string& needle,
                            const cv::Mat& f) {
    auto result = explainer->Explain(f, request);
    ASSERT_FALSE(result.ok()) << request.method << " should fail mentioning " << needle;
    EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(result.status().message().find(needle), std::string::npos) << result.status();
  };
  expect_invalid(Request("deeplift"), "deeplift", frame);
  expect_invalid(Request("deeplift"), "integrated-gradients", frame);  // Lists known methods.
  expect_invalid(Request("lrp", {{"epsilom", "0.1"}}), "epsilom", frame);
  expect_invalid(Request("lrp", {{"epsilon", "abc"}}), "epsilon", frame);
  expect_invalid(Request("lrp", {{"epsilon", "-1"}}), "epsilon", frame);
  expect_invalid(Request("lrp", {{"composite", "fancy"}}), "fancy", frame);
  expect_invalid(Request("lrp", {{"alpha", "3"}}), "alpha", frame);
  expect_invalid(Request("lrp", {{"rule.nope", "epsilon"}}), "nope", frame);
  expect_invalid(Request("lrp", {{"rule.head", "magic"}}), "magic", frame);
  expect_invalid(Request("lrp", {{"low", "-1"}}), "high", frame);
  expect_invalid(Request("gradient", {{"steps", "4"}}), "steps", frame);
  expect_invalid(Request("integrated-gradients", {{"steps", "0"}}), "steps", frame);
  expect_invalid(Request("smoothgrad", {{"noise", "x"}}), "noise", frame);
  expect_invalid(Request("grad-cam", {{"layer", "down.9"}}), "down.9", frame);
  expect_invalid(Request("occlusion", {{"patch", "64"}}), "patch", frame);
  expect_invalid(Request("frequency-occlusion", {{"bands", "0.3:0.1"}}), "bands", frame);
  expect_invalid(Request("frequency-occlusion", {{"bands_nm", "0.2:0.25"}, {"pixel_size_nm", "0"}}),
                 "pixel_size_nm", frame);
  expect_invalid(Request("frequency-occlusion", {{"map", "both"}}), "map", frame);
  expect_invalid(Request("lrp"), "multiples of 4", RandomFrame(30, 32, 1));
  AttributionRequest request = Request("lrp");
  request.target.class_index = 2;
  expect_invalid(request, "class_index", frame);
  request = Request("lrp");
  request.target.kind = AttributionTarget::Kind::kPixel;
  request.target.pixel = cv::Point(32, 0);
  expect_invalid(request, "pixel", frame);
  request.target.kind = AttributionTarget::Kind::kMask;
  request.target.mask = cv::Mat::ones(16, 16, CV_8U);
  expect_invalid(request, "mask", frame);
  request.target.kind = AttributionTarget::Kind::kBox;
  request.target.box = cv::Rect(40, 40, 5, 5);
  expect_invalid(request, "box", frame);
  // Valid overrides by layer and by group work, and are reported.
  auto ok = explainer->Explain(
      frame, Request("lrp", {{"rule.down.0.first", "zplus"}, {"rule.decoder", "gamma"}}));
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->parameters.at("rule.down.0.first"), "zplus");
  EXPECT_EQ(ok->parameters.at("rule.up_blocks.1.second"), "gamma");
  EXPECT_EQ(ok->parameters.at("rule.up.0"), "epsilon");
  EXPECT_EQ(ok->parameters.at("rule.down.1.first"), "gamma");
  EXPECT_EQ(ok->parameters.at("composite"), "epsilon-gamma-box");
}

TEST_F(AttributionTest, OcclusionOfWhatTheModelCannotSeeChangesNothing) {
  // A pixel target near one corner: the receptive field of a depth-2 U-Net spans ~45 pixels,
  // so occluding the far quadrant of a 64x64 frame cannot change the target.
  const UNetOptions options = TinyOptions(true);
  UNet net = MakeNet(options, 27);
  auto explainer = LoadExplainer(net, options);
  const cv::Mat frame = RandomFrame(64, 64, 10);
  AttributionRequest request = Request("occlusion", {{"patch", "8"}, {"stride", "8"}});
  request.target.kind = AttributionTarget::Kind::kPixel;
  request.target.pixel = cv::Point(3, 2);
  auto result = explainer->Explain(frame, request);
  ASSERT_TRUE(result.ok()) << result.status();
  const double scale = MaxAbs(result->relevance);
  ASSERT_GT(scale, 1e-4);
  EXPECT_LT(MaxAbs(result->relevance(cv::Rect(40, 0, 24, 64))), 1e-6 * (1 + scale));
  EXPECT_LT(MaxAbs(result->relevance(cv::Rect(0, 40, 64, 24))), 1e-6 * (1 + scale));
  EXPECT_GT(MaxAbs(result->relevance(cv::Rect(0, 0, 16, 16))), 0.01 * scale);
}

TEST_F(AttributionTest, FrequencyOcclusionOfEverythingIsFullDeletion) {
  const UNetOptions options = TinyOptions(true);
  UNet net = MakeNet(options, 29);
  auto explainer = LoadExplainer(net, options);
  const cv::Mat frame = RandomFrame(32, 32, 11);
  auto value_at = [&](const cv::Mat& f) {
    auto r = explainer->Explain(f, Request("gradient"));
    EXPECT_TRUE(r.ok());
    return r->target_value;
  };
  const double deletion = value_at(frame) - value_at(cv::Mat::zeros(32, 32, CV_32F));
  auto all = explainer->Explain(frame, Request("frequency-occlusion", {{"bands", "0:inf"}}));
  ASSERT_TRUE(all.ok()) << all.status();
  ASSERT_EQ(all->layer_sums.size(), 1u);
  EXPECT_NEAR(all->layer_sums[0].second, deletion, 1e-4 * (1 + std::abs(deletion)));
  EXPECT_NEAR(all->relevance_sum, deletion, 1e-4 * (1 + std::abs(deletion)));
  EXPECT_NEAR(all->conservation_residual, 0, 1e-4 * (1 + std::abs(deletion)));

  // The default bands together cover the spectrum; each is reported.
  auto bands = explainer->Explain(frame, Request("frequency-occlusion", {{"map", "output"}}));
  ASSERT_TRUE(bands.ok()) << bands.status();
  EXPECT_EQ(bands->layer_sums.size(), 8u);

  // A pure fringe pattern at 0.25 cycles/pixel (0.08 nm at 0.02 nm/px): removing another
  // band changes nothing, removing its own band is full deletion.
  cv::Mat fringes(32, 32, CV_32F);
  for (int y = 0; y < 32; ++y) {
    for (int x = 0; x < 32; ++x) fringes.at<float>(y, x) = std::cos(2 * M_PI * 0.25 * x);
  }
  const double fringe_deletion = value_at(fringes) - value_at(cv::Mat::zeros(32, 32, CV_32F));
  auto rings = explainer->Explain(
      fringes, Request("frequency-occlusion", {{"bands_nm", "0.05:0.07,0.07:0.1"}}));
  ASSERT_TRUE(rings.ok()) << rings.status();
  ASSERT_EQ(rings->layer_sums.size(), 2u);
  EXPECT_EQ(rings->layer_sums[0].first, "0.05-0.07 nm");
  EXPECT_NEAR(rings->layer_sums[0].second, 0.0, 1e-4 * (1 + std::abs(fringe_deletion)));
  EXPECT_NEAR(rings->layer_sums[1].second, fringe_deletion, 1e-4 * (1 + std::abs(fringe_deletion)));
}

TEST_F(AttributionTest, SmoothGradGradCamAndThreadsAreWellBehaved) {
  const UNetOptions options = TinyOptions(true);
  UNet net = MakeNet(options, 31);
  auto explainer = LoadExplainer(net, options);
  const cv::Mat frame = RandomFrame(32, 32, 12);
  auto s1 = explainer->Explain(frame, Request("smoothgrad", {{"samples", "8"}, {"seed", "4"}}));
  auto s2 = explainer->Explain(frame, Request("smoothgrad", {{"samples", "8"}, {"seed", "4"}}));
  auto s3 = explainer->Explain(frame, Request("smoothgrad", {{"samples", "8"}, {"seed", "5"}}));
  ASSERT_TRUE(s1.ok() && s2.ok() && s3.ok());
  EXPECT_EQ(MaxAbs(s1->relevance - s2->relevance), 0.0);
  EXPECT_GT(MaxAbs(s1->relevance - s3->relevance), 0.0);
  for (const std::string layer : {"bottleneck", "down.1", "up_blocks.0", "up.1"}) {
    auto cam = explainer->Explain(frame, Request("grad-cam", {{"layer", layer}}));
    ASSERT_TRUE(cam.ok()) << cam.status();
    double lo, hi;
    cv::minMaxLoc(cam->relevance, &lo, &hi);
    EXPECT_GE(lo, 0.0) << layer;
    EXPECT_EQ(cam->relevance.size(), frame.size());
  }
  // Concurrent requests give the same answers as sequential ones.
  auto reference = explainer->Explain(frame, Request("lrp"));
  ASSERT_TRUE(reference.ok());
  std::vector<cv::Mat> maps(4);
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&, i] {
      auto r = explainer->Explain(frame, Request(i % 2 ? "lrp" : "gradient-x-input"));
      if (r.ok()) maps[i] = r->relevance;
    });
  }
  for (auto& t : threads) t.join();
  for (int i = 1; i < 4; i += 2) {
    ASSERT_FALSE(maps[i].empty());
    EXPECT_EQ(MaxAbs(maps[i] - reference->relevance), 0.0);
  }
}

TEST_F(AttributionTest, LoadRejectsWhatItCannotExplain) {
  const UNetOptions options = TinyOptions(true);
  UNet net = MakeNet(options, 33);
  const std::string dir = testing::MakeTempDir("fringe_attribution");
  torch::save(net, dir + "/weights.pt");
  v1::ModelConfig config = ConfigFor(options);
  config.mutable_unet()->set_base_filters(8);
  EXPECT_EQ(Explainer::Load(config, dir).status().code(), absl::StatusCode::kInvalidArgument);
  config = ConfigFor(options);
  config.set_architecture("fourier-bandpass");
  EXPECT_EQ(Explainer::Load(config, dir).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Explainer::Load(ConfigFor(options), dir + "/missing").status().code(),
            absl::StatusCode::kNotFound);
  auto explainer = Explainer::Load(ConfigFor(options), dir);
  ASSERT_TRUE(explainer.ok()) << explainer.status();
  EXPECT_EQ((*explainer)->input_multiple(), 4);
  EXPECT_EQ((*explainer)->num_classes(), 2);
  EXPECT_EQ((*explainer)->layer_names().size(), 13u);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace fringe
