// Training FCN8s and fine-tuning (frozen backbone warm-up, discriminative learning rates).
#include <gtest/gtest.h>

#include <filesystem>
#include <opencv2/core.hpp>

#include "models/frame_segmenter.h"
#include "models/model_config.h"
#include "models/model_registry.h"
#include "models/torch_models.h"
#include "tests/support/test_repository.h"
#include "tests/support/tiny_training.h"
#include "train/trainer.h"

namespace fringe {
namespace {

namespace fs = std::filesystem;

// The shared tiny problem (tests/support/tiny_training.h) with a reduced-width FCN8s
// (4/8/16/32/32 channels, fc6/fc7 16), plus the top-level fields in `extra`.
v1::TrainConfig TinyFcnConfig(const std::string& dir, const std::string& extra = "") {
  const std::string fcn = testing::OverrideTrainFields(testing::kTinyTrainConfig, R"pb(
    model {
      architecture: "fcn8s"
      fcn8s { width_divisor: 16 fc6_channels: 16 fc7_channels: 16 dropout: 0.1 }
      tile_size: 64
      tile_margin: 8
      pixel_size_nm: 0.0225
    }
    validation_size: 48
    output_name: "tiny-fcn"
  )pb");
  auto config = ParseTrainConfig(testing::OverrideTrainFields(fcn, extra));
  EXPECT_TRUE(config.ok()) << config.status();
  config->set_output_repository(dir + "/repo");
  config->set_checkpoint_dir(dir + "/ckpt");
  return *config;
}

bool IsBackbone(const std::string& name) {
  return name.rfind("conv", 0) == 0 || name.rfind("fc6", 0) == 0 || name.rfind("fc7", 0) == 0 ||
         name.rfind("down.", 0) == 0 || name.rfind("bottleneck.", 0) == 0;
}

// Writes an untrained version of `model` to start fine-tuning from (stands in for a
// pretrained backbone).
std::string WriteStart(const std::string& dir, const v1::ModelConfig& model) {
  const std::string version = dir + "/start/1";
  fs::create_directories(version);
  EXPECT_TRUE(WriteInitialWeights(model, version + "/weights.pt", 11).ok());
  testing::WriteTextFile(version + "/config.pbtxt", ModelConfigToText(model));
  return version;
}

TEST(Fcn8sTrainingTest, LossFallsAndTheVersionServes) {
  const std::string dir = testing::MakeTempDir("fcn_train");
  v1::TrainConfig config = TinyFcnConfig(dir);
  config.set_steps(40);
  config.set_validate_every(20);
  auto trainer = Trainer::Create(config, {});
  ASSERT_TRUE(trainer.ok()) << trainer.status();
  std::vector<double> losses;
  auto result = (*trainer)->Run([&](const TrainProgress& p) { losses.push_back(p.loss); });
  ASSERT_TRUE(result.ok()) << result.status();
  ASSERT_GE(losses.size(), 4u);
  std::printf("FCN8s loss %.4f -> %.4f over %lld steps\n", losses.front(), losses.back(),
              static_cast<long long>(result->steps));
  EXPECT_LT(losses.back(), losses.front())
      << "first " << losses.front() << " last " << losses.back();
  // Validation ran on 48x48 images, not a multiple of FCN8s's stride 32: no padding needed.
  EXPECT_TRUE(result->best_validation.count("dice"));
  ASSERT_FALSE(result->version_dir.empty());
  auto written = LoadModelConfig(result->version_dir + "/config.pbtxt");
  ASSERT_TRUE(written.ok()) << written.status();
  EXPECT_EQ(written->architecture(), "fcn8s");
  auto model = ModelRegistry::WithBuiltins().Create(*written, {result->version_dir, {}});
  ASSERT_TRUE(model.ok()) << model.status();
  cv::Mat frame(50, 70, CV_32F);
  cv::randn(frame, 0, 1);
  FrameSegmenterOptions options;
  options.tile_size = written->tile_size();
  options.tile_margin = written->tile_margin();
  auto out = SegmentFrame(**model, frame, options);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->mask.size(), frame.size());
}

TEST(Fcn8sTrainingTest, FrozenBackboneStaysStillThenTrains) {
  for (const std::string architecture : {"fcn8s", "unet"}) {
    SCOPED_TRACE(architecture);
    const std::string dir = testing::MakeTempDir("freeze_" + architecture);
    v1::TrainConfig config = TinyFcnConfig(dir);
    if (architecture == "unet") {
      config.mutable_model()->set_architecture("unet");
      config.mutable_model()->clear_fcn8s();
      config.mutable_model()->mutable_unet()->set_depth(2);
      config.mutable_model()->mutable_unet()->set_base_filters(4);
      config.mutable_model()->mutable_unet()->set_batch_norm(true);
      ApplyTrainConfigDefaults(&config);
    }
    config.set_init_from(WriteStart(dir, config.model()));
    config.set_freeze_backbone_steps(3);
    config.set_backbone_lr_multiplier(0.1);  // Two parameter groups.
    config.set_steps(6);
    ASSERT_TRUE(ValidateTrainConfig(config).ok()) << ValidateTrainConfig(config);

    Trainer::Options warmup;
    warmup.stop_after_steps = 3;
    auto first = Trainer::Create(config, warmup);
    ASSERT_TRUE(first.ok()) << first.status();
    const auto initial = (*first)->NamedParameterSnapshot();
    EXPECT_EQ((*first)->Run(nullptr).status().code(), absl::StatusCode::kCancelled);
    const auto frozen = (*first)->NamedParameterSnapshot();
    int backbone = 0, head_moved = 0;
    for (const auto& [name, values] : initial) {
      if (IsBackbone(name)) {
        ++backbone;
        EXPECT_EQ(frozen.at(name), values) << name << " moved while frozen";
      } else if (frozen.at(name) != values) {
        ++head_moved;
      }
    }
    EXPECT_GT(backbone, 4);
    EXPECT_GT(head_moved, 0) << "the head trains during the warm-up";
    first->reset();

    Trainer::Options resume;
    resume.resume = true;
    auto second = Trainer::Create(config, resume);
    ASSERT_TRUE(second.ok()) << second.status();
    ASSERT_TRUE((*second)->Run(nullptr).ok());
    const auto unfrozen = (*second)->NamedParameterSnapshot();
    int backbone_moved = 0;
    for (const auto& [name, values] : initial) {
      if (IsBackbone(name) && unfrozen.at(name) != values) ++backbone_moved;
    }
    EXPECT_GT(backbone_moved, 0) << "the backbone trains after the warm-up";

    // The split run (stopped inside the warm-up, resumed) equals an uninterrupted one.
    const std::string straight_dir = testing::MakeTempDir("freeze_straight_" + architecture);
    v1::TrainConfig straight = config;
    straight.set_output_repository(straight_dir + "/repo");
    straight.set_checkpoint_dir(straight_dir + "/ckpt");
    auto uninterrupted = Trainer::Create(straight, {});
    ASSERT_TRUE(uninterrupted.ok()) << uninterrupted.status();
    ASSERT_TRUE((*uninterrupted)->Run(nullptr).ok());
    EXPECT_EQ((*uninterrupted)->ParameterSnapshot(), (*second)->ParameterSnapshot());
  }
}

TEST(Fcn8sTrainingTest, FineTuningConfigErrors) {
  const std::string dir = testing::MakeTempDir("fcn_bad");
  v1::TrainConfig config = TinyFcnConfig(dir);
  config.set_freeze_backbone_steps(10);
  EXPECT_NE(ValidateTrainConfig(config).message().find("vgg16_weights"), std::string::npos)
      << "a frozen random backbone is refused";
  config.set_freeze_backbone_steps(0);
  config.set_backbone_lr_multiplier(-1);
  EXPECT_FALSE(ValidateTrainConfig(config).ok());
  config.set_backbone_lr_multiplier(1);
  // ImageNet weights need the full width: refused before the file is even read.
  config.set_vgg16_weights(dir + "/vgg16_imagenet.pt");
  auto trainer = Trainer::Create(config, {});
  ASSERT_EQ(trainer.status().code(), absl::StatusCode::kFailedPrecondition) << trainer.status();
  EXPECT_NE(trainer.status().message().find("full-width"), std::string::npos) << trainer.status();
  // ... and an FCN8s.
  auto unet = ParseTrainConfig("vgg16_weights: \"x.pt\" model { unet { depth: 2 } }");
  EXPECT_NE(unet.status().message().find("fcn8s"), std::string::npos) << unet.status();
}

}  // namespace
}  // namespace fringe
