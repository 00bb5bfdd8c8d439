#include "models/fcn8s.h"

#include <gtest/gtest.h>
#include <torch/script.h>

#include <filesystem>
#include <fstream>

#include "models/fcn8s_io.h"
#include "models/frame_segmenter.h"
#include "models/model_config.h"
#include "models/model_registry.h"
#include "models/segmentation_net.h"
#include "models/torch_models.h"
#include "tests/support/test_repository.h"

namespace fringe {
namespace {

namespace fs = std::filesystem;
using Shapes = std::vector<std::pair<std::string, std::vector<int64_t>>>;

// A reduced-width FCN8s (4/8/16/32/32 channels) that runs in milliseconds.
FCN8sOptions TinyOptions() {
  FCN8sOptions options;
  options.block_channels = {4, 8, 16, 32, 32};
  options.fc6_channels = 16;
  options.fc7_channels = 8;
  return options;
}

v1::ModelConfig TinyFcnConfig() {
  auto config = ParseModelConfig(R"pb(
    architecture: "fcn8s"
    fcn8s { width_divisor: 16 fc6_channels: 16 fc7_channels: 8 batch_norm: true }
    tile_size: 96
    tile_margin: 16
  )pb");
  EXPECT_TRUE(config.ok()) << config.status();
  return *config;
}

// A state dict with the given keys and shapes, random values, written the way Python's
// torch.save writes a dict of tensors (zip archive, data.pkl + one record per storage).
std::map<std::string, torch::Tensor> RandomStateDict(const Shapes& shapes) {
  std::map<std::string, torch::Tensor> out;
  for (const auto& [key, shape] : shapes) out[key] = torch::randn(shape);
  return out;
}

std::string WriteStateDict(const std::map<std::string, torch::Tensor>& tensors,
                           const std::string& path) {
  c10::Dict<std::string, torch::Tensor> dict;
  for (const auto& [key, t] : tensors) dict.insert(key, t);
  const std::vector<char> bytes = torch::pickle_save(c10::IValue(dict));
  std::ofstream(path, std::ios::binary)
      .write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  return path;
}

TEST(FCN8sTest, OutputMatchesInputSizeForAnySize) {
  torch::NoGradGuard no_grad;
  for (bool dilated : {false, true}) {
    FCN8sOptions options = TinyOptions();
    options.num_classes = 3;
    if (dilated) options.dilation = {1, 1, 2, 2, 4, 2};
    FCN8s net(options);
    net->eval();
    for (auto [h, w] : std::vector<std::pair<int64_t, int64_t>>{
             {97, 131}, {256, 256}, {33, 47}, {1, 1}, {5, 200}, {32, 64}}) {
      const torch::Tensor y = net->forward(torch::randn({2, 1, h, w}));
      EXPECT_EQ(y.sizes(), (std::vector<int64_t>{2, 3, h, w}))
          << h << "x" << w << (dilated ? " dilated" : "");
    }
  }
}

TEST(FCN8sTest, HasVgg16Structure) {
  FCN8sOptions options;  // Full width, but a narrow fc6/fc7 to keep the test small.
  options.fc6_channels = 8;
  options.fc7_channels = 8;
  FCN8s net(options);
  ASSERT_EQ(net->convs.size(), 13u);
  EXPECT_EQ(FCN8sImpl::ConvName(0), "conv1_1");
  EXPECT_EQ(FCN8sImpl::ConvName(4), "conv3_1");
  EXPECT_EQ(FCN8sImpl::ConvName(12), "conv5_3");
  int64_t conv_params = 0;
  for (const auto& conv : net->convs) {
    for (const auto& p : conv->parameters()) conv_params += p.numel();
  }
  // torchvision's vgg16.features has 14,714,688 parameters; one input channel instead of
  // three removes 2 * 64 * 3 * 3.
  EXPECT_EQ(conv_params, 14714688 - 2 * 64 * 9);
  EXPECT_EQ(net->fc6->weight.sizes(), (std::vector<int64_t>{8, 512, 7, 7}));
  EXPECT_EQ(net->upscore8->weight.sizes(), (std::vector<int64_t>{2, 2, 16, 16}));
}

TEST(FCN8sTest, TransposedConvolutionsStartAsBilinearUpsampling) {
  torch::NoGradGuard no_grad;
  FCN8s net(TinyOptions());
  EXPECT_TRUE(torch::equal(net->upscore2->weight, BilinearUpsamplingWeights(2, 4)));
  EXPECT_TRUE(torch::equal(net->upscore_pool4->weight, BilinearUpsamplingWeights(2, 4)));
  EXPECT_TRUE(torch::equal(net->upscore8->weight, BilinearUpsamplingWeights(2, 16)));
  EXPECT_FALSE(net->upscore8->weight.requires_grad()) << "fixed unless learn_upsampling";
  FCN8sOptions learn = TinyOptions();
  learn.learn_upsampling = true;
  EXPECT_TRUE(FCN8s(learn)->upscore8->weight.requires_grad());

  // Transposed convolution + the forward pass's crop of s/2 == bilinear interpolation
  // (align_corners = false) wherever interpolation needs no clamping at the border, for a
  // constant, a ramp and random maps, with the channels kept apart.
  const int64_t n = 10, m = 12;
  const torch::Tensor ramp = torch::arange(n * m, torch::kFloat32).reshape({1, 1, n, m});
  const torch::Tensor inputs = torch::cat(
      {torch::ones({1, 1, n, m}) * 3.5, ramp, torch::randn({1, 1, n, m})}, 1);  // 3 channels.
  for (int64_t s : {2, 8}) {
    namespace F = torch::nn::functional;
    const torch::Tensor up = F::conv_transpose2d(inputs, BilinearUpsamplingWeights(3, 2 * s),
                                                 F::ConvTranspose2dFuncOptions().stride(s))
                                 .narrow(2, s / 2, s * n)
                                 .narrow(3, s / 2, s * m);
    const torch::Tensor reference =
        F::interpolate(inputs, F::InterpolateFuncOptions()
                                   .size(std::vector<int64_t>{s * n, s * m})
                                   .mode(torch::kBilinear)
                                   .align_corners(false));
    const int64_t lo = s / 2, rows = s * n - s, cols = s * m - s;
    const torch::Tensor a = up.narrow(2, lo, rows).narrow(3, lo, cols);
    const torch::Tensor b = reference.narrow(2, lo, rows).narrow(3, lo, cols);
    EXPECT_TRUE(torch::allclose(a, b, 1e-4, 1e-4))
        << "stride " << s << ": " << (a - b).abs().max().item<float>();
    // A constant stays exactly constant.
    EXPECT_NEAR(a[0][0].min().item<float>(), 3.5, 1e-5);
    EXPECT_NEAR(a[0][0].max().item<float>(), 3.5, 1e-5);
  }
}

TEST(Vgg16ImportTest, ExpectsExactlyTorchvisionsKeysAndShapesAtFullWidth) {
  FCN8sOptions full;  // Defaults: VGG16 widths, fc6/fc7 4096, 7x7 (no network is built).
  const Shapes shapes = Vgg16ImportShapes(full);
  // torchvision.models.vgg16().state_dict(), classifier.6 (ImageNet's classes) left out.
  const Shapes torchvision = {
      {"features.0.weight", {64, 3, 3, 3}},     {"features.0.bias", {64}},
      {"features.2.weight", {64, 64, 3, 3}},    {"features.2.bias", {64}},
      {"features.5.weight", {128, 64, 3, 3}},   {"features.5.bias", {128}},
      {"features.7.weight", {128, 128, 3, 3}},  {"features.7.bias", {128}},
      {"features.10.weight", {256, 128, 3, 3}}, {"features.10.bias", {256}},
      {"features.12.weight", {256, 256, 3, 3}}, {"features.12.bias", {256}},
      {"features.14.weight", {256, 256, 3, 3}}, {"features.14.bias", {256}},
      {"features.17.weight", {512, 256, 3, 3}}, {"features.17.bias", {512}},
      {"features.19.weight", {512, 512, 3, 3}}, {"features.19.bias", {512}},
      {"features.21.weight", {512, 512, 3, 3}}, {"features.21.bias", {512}},
      {"features.24.weight", {512, 512, 3, 3}}, {"features.24.bias", {512}},
      {"features.26.weight", {512, 512, 3, 3}}, {"features.26.bias", {512}},
      {"features.28.weight", {512, 512, 3, 3}}, {"features.28.bias", {512}},
      {"classifier.0.weight", {4096, 25088}},   {"classifier.0.bias", {4096}},
      {"classifier.3.weight", {4096, 4096}},    {"classifier.3.bias", {4096}},
  };
  EXPECT_EQ(shapes, torchvision);
}

TEST(Vgg16ImportTest, ImportsTheConvolutionsOfAFullWidthStateDict) {
  // The 13 convolutions at full width (14.7 M parameters, 59 MB) plus classifier tensors that
  // do not fit this network's narrow fc6/fc7 and must be skipped, not rejected.
  FCN8sOptions options;
  options.fc6_channels = 16;
  options.fc7_channels = 16;
  FCN8s net(options);
  Shapes shapes;
  for (const auto& entry : Vgg16ImportShapes(options)) {
    if (entry.first.rfind("features.", 0) == 0) shapes.push_back(entry);
  }
  ASSERT_EQ(shapes.size(), 26u);
  std::map<std::string, torch::Tensor> dict = RandomStateDict(shapes);
  dict["classifier.0.weight"] = torch::randn({4, 4});
  dict["classifier.6.weight"] = torch::randn({10, 4});
  const std::string path =
      WriteStateDict(dict, testing::MakeTempDir("vgg16_full") + "/vgg16_imagenet.pt");
  const torch::Tensor fc6_before = net->fc6->weight.clone();

  auto report = ImportVgg16Weights(*net, path);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->convolutions, 13);
  EXPECT_FALSE(report->classifier);
  EXPECT_NE(report->summary.find("convolutions only"), std::string::npos) << report->summary;
  EXPECT_NE(report->summary.find("16/16"), std::string::npos) << report->summary;
  // conv1_1 sees the one HRTEM channel through the sum of its RGB filters.
  EXPECT_TRUE(
      torch::allclose(net->convs[0]->conv->weight, dict.at("features.0.weight").sum(1, true)));
  const int index[13] = {0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28};
  for (int i = 1; i < 13; ++i) {
    const std::string key = "features." + std::to_string(index[i]);
    EXPECT_TRUE(torch::equal(net->convs[i]->conv->weight, dict.at(key + ".weight"))) << key;
    EXPECT_TRUE(torch::equal(net->convs[i]->conv->bias, dict.at(key + ".bias"))) << key;
  }
  EXPECT_TRUE(torch::equal(net->fc6->weight, fc6_before));
}

TEST(Vgg16ImportTest, ClassifierBecomesFc6AndFc7Convolutions) {
  // Reduced width stands in for 4096 x 25088: same code path, a test-only switch.
  FCN8sOptions options = TinyOptions();
  FCN8s net(options);
  std::map<std::string, torch::Tensor> dict = RandomStateDict(Vgg16ImportShapes(options));
  dict["classifier.6.weight"] = torch::randn({1000, 8});  // ImageNet classes: ignored.
  Vgg16ImportOptions reduced;
  reduced.allow_reduced_width = true;
  auto report = ImportVgg16StateDict(*net, dict, "fixture", reduced);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_TRUE(report->classifier);
  // On a 7x7 pool5 map, fc6 at the centre is exactly torchvision's classifier.0 applied to the
  // flattened (C, H, W) map: the reshape keeps torchvision's flattening order.
  torch::NoGradGuard no_grad;
  const torch::Tensor pool5 = torch::randn({1, 32, 7, 7});
  const torch::Tensor conv = net->fc6->forward(pool5).select(2, 3).select(2, 3);
  const torch::Tensor linear = torch::nn::functional::linear(
      pool5.flatten(1), dict.at("classifier.0.weight"), dict.at("classifier.0.bias"));
  EXPECT_TRUE(torch::allclose(conv, linear, 1e-4, 1e-4));
  const torch::Tensor h = torch::randn({1, 16, 3, 3});
  EXPECT_TRUE(torch::allclose(
      net->fc7->forward(h).select(2, 1).select(2, 1),
      torch::nn::functional::linear(h.select(2, 1).select(2, 1), dict.at("classifier.3.weight"),
                                    dict.at("classifier.3.bias")),
      1e-4, 1e-4));
}

TEST(Vgg16ImportTest, RejectsWrongShapesAndMissingKeysNamingThem) {
  FCN8sOptions options = TinyOptions();
  Vgg16ImportOptions reduced;
  reduced.allow_reduced_width = true;
  std::map<std::string, torch::Tensor> dict = RandomStateDict(Vgg16ImportShapes(options));
  const std::string dir = testing::MakeTempDir("vgg16_bad");

  FCN8s net(options);
  const torch::Tensor before = net->convs[1]->conv->weight.clone();
  auto wrong = dict;
  wrong["features.10.weight"] = torch::randn({16, 9, 3, 3});
  auto status = ImportVgg16Weights(*net, WriteStateDict(wrong, dir + "/wrong.pt"), reduced);
  ASSERT_EQ(status.status().code(), absl::StatusCode::kInvalidArgument);
  const std::string message(status.status().message());
  EXPECT_NE(message.find("features.10.weight"), std::string::npos) << message;
  EXPECT_NE(message.find("[16,9,3,3]"), std::string::npos) << message;
  EXPECT_NE(message.find("[16,8,3,3]"), std::string::npos) << message;
  // Nothing was copied before the check failed.
  EXPECT_TRUE(torch::equal(net->convs[1]->conv->weight, before));

  auto missing = dict;
  missing.erase("features.26.bias");
  status = ImportVgg16StateDict(*net, missing, "fixture", reduced);
  ASSERT_EQ(status.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(status.status().message().find("features.26.bias"), std::string::npos)
      << status.status();

  // The network fits the classifier, so a partial classifier is an error too.
  auto partial = dict;
  partial.erase("classifier.3.bias");
  status = ImportVgg16StateDict(*net, partial, "fixture", reduced);
  EXPECT_NE(status.status().message().find("classifier.3.bias"), std::string::npos)
      << status.status();

  // ImageNet weights need the full-width backbone (checked before the file is read).
  status = ImportVgg16Weights(*net, dir + "/never-read.pt");
  ASSERT_EQ(status.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(status.status().message().find("width_divisor"), std::string::npos) << status.status();
  FCN8sOptions bn = options;
  bn.batch_norm = true;
  FCN8s with_bn(bn);
  EXPECT_EQ(ImportVgg16StateDict(*with_bn, dict, "fixture", reduced).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST(Vgg16ImportTest, ExplainsFilesLibTorchCannotRead) {
  const std::string dir = testing::MakeTempDir("vgg16_format");
  EXPECT_EQ(ReadTorchStateDict(dir + "/absent.pt").status().code(), absl::StatusCode::kNotFound);
  // E.g. the legacy (pre-zip) torch.save format of torchvision's vgg16-397923af.pth.
  testing::WriteTextFile(dir + "/legacy.pth", "\x80\x02\x8a\x0alegacy pickle");
  auto status = ReadTorchStateDict(dir + "/legacy.pth");
  ASSERT_EQ(status.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(status.status().message().find("torch.save(dict("), std::string::npos)
      << "tells how to convert: " << status.status();
  // A pickled tensor is not a dict.
  const std::vector<char> bytes = torch::pickle_save(c10::IValue(torch::ones({2})));
  std::ofstream(dir + "/tensor.pt", std::ios::binary).write(bytes.data(), bytes.size());
  status = ReadTorchStateDict(dir + "/tensor.pt");
  EXPECT_NE(status.status().message().find("not a dict of tensors"), std::string::npos)
      << status.status();
}

TEST(Vgg16ImportTest, ReadsATorchScriptArchiveByParameterName) {
  // torch.jit.save(torch.jit.script(vgg16)) keeps names like features.0.weight.
  torch::jit::Module root("__torch__.VGG");
  torch::jit::Module features("__torch__.Features");
  torch::jit::Module conv("__torch__.Conv");
  conv.register_parameter("weight", torch::ones({4, 3, 3, 3}), false);
  conv.register_parameter("bias", torch::zeros({4}), false);
  features.register_module("0", conv);
  root.register_module("features", features);
  const std::string path = testing::MakeTempDir("vgg16_jit") + "/vgg16.pt";
  root.save(path);
  auto dict = ReadTorchStateDict(path);
  ASSERT_TRUE(dict.ok()) << dict.status();
  ASSERT_TRUE(dict->count("features.0.weight"));
  EXPECT_EQ(dict->at("features.0.weight").sizes(), (std::vector<int64_t>{4, 3, 3, 3}));
}

TEST(FCN8sServingTest, RegistryServesAnFcn8sVersionAtAnySize) {
  const std::string root = testing::MakeTempDir("fcn_repo");
  const v1::ModelConfig config = TinyFcnConfig();
  const std::string dir = root + "/fcn/1";
  fs::create_directories(dir);
  ASSERT_TRUE(WriteInitialWeights(config, dir + "/weights.pt", 7).ok());
  testing::WriteTextFile(dir + "/config.pbtxt", ModelConfigToText(config));

  auto model = ModelRegistry::WithBuiltins().Create(config, {dir, {}});
  ASSERT_TRUE(model.ok()) << model.status();
  EXPECT_EQ((*model)->input_multiple(), 1);
  EXPECT_EQ((*model)->num_classes(), 2);
  EXPECT_GT((*model)->parameter_count(), 1000);

  // Serving (eval mode, BatchNorm folded) matches the eager module in eval mode. Random
  // score layers make the probabilities depend on the input.
  auto reference = LoadSegmentationNet(config, dir + "/weights.pt");
  ASSERT_TRUE(reference.ok()) << reference.status();
  reference->module->eval();
  {
    torch::NoGradGuard no_grad;
    for (auto& item : reference->module->named_parameters()) {
      if (item.key().rfind("score", 0) == 0) item.value().normal_();
    }
    // Non-trivial BatchNorm statistics, so folding has something to fold.
    for (auto& item : reference->module->named_buffers()) {
      if (item.key().find("running_var") != std::string::npos) item.value().uniform_(0.5, 2);
      if (item.key().find("running_mean") != std::string::npos) item.value().normal_(0, 0.2);
    }
  }
  torch::save(reference->module, dir + "/weights.pt");
  model = ModelRegistry::WithBuiltins().Create(config, {dir, {}});
  ASSERT_TRUE(model.ok()) << model.status();
  const torch::Tensor x = torch::randn({1, 1, 45, 71});
  std::vector<float> probs;
  ASSERT_TRUE((*model)->Predict(x.data_ptr<float>(), 1, 45, 71, &probs).ok());
  torch::NoGradGuard no_grad;
  const torch::Tensor expected = torch::softmax(reference->forward(x), 1).contiguous();
  ASSERT_EQ(probs.size(), static_cast<size_t>(expected.numel()));
  const torch::Tensor got = torch::from_blob(probs.data(), expected.sizes(), torch::kFloat32);
  EXPECT_TRUE(torch::allclose(got, expected, 1e-4, 1e-5))
      << (got - expected).abs().max().item<float>();

  FrameSegmenterOptions options;
  options.tile_size = config.tile_size();
  options.tile_margin = config.tile_margin();
  for (auto [rows, cols] : std::vector<std::pair<int, int>>{{1, 1}, {37, 61}, {130, 97}}) {
    cv::Mat frame(rows, cols, CV_32F);
    cv::randn(frame, 0, 1);
    auto out = SegmentFrame(**model, frame, options);
    ASSERT_TRUE(out.ok()) << out.status();
    EXPECT_EQ(out->mask.size(), frame.size());
  }

  // Weights of another width are refused, naming the tensor.
  v1::ModelConfig wider = config;
  wider.mutable_fcn8s()->set_width_divisor(8);
  auto refused = ModelRegistry::WithBuiltins().Create(wider, {dir, {}});
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("conv1_1.conv.weight"), std::string::npos)
      << refused.status();
}

TEST(FCN8sConfigTest, DefaultsAndValidation) {
  auto config = ParseModelConfig("architecture: \"fcn8s\" fcn8s { width_divisor: 4 }");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->fcn8s().fc6_channels(), 1024);
  EXPECT_EQ(config->fcn8s().fc7_channels(), 1024);
  EXPECT_EQ(config->fcn8s().fc6_kernel(), 7);
  EXPECT_EQ(NetworkInputMultiple(*config), 1);
  EXPECT_NE(ParseModelConfig("architecture: \"fcn8s\" fcn8s { dilation: [1, 2] }")
                .status()
                .message()
                .find("fcn8s.dilation"),
            std::string::npos);
  EXPECT_NE(ParseModelConfig("architecture: \"fcn8s\" fcn8s { fc6_kernel: 4 }")
                .status()
                .message()
                .find("fc6_kernel"),
            std::string::npos);
}

}  // namespace
}  // namespace fringe
