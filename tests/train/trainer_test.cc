#include "train/trainer.h"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <sstream>
#include <thread>

#include "models/model_config.h"
#include "tests/support/test_repository.h"
#include "tests/support/tiny_training.h"
#include "train/training_data.h"

namespace fringe {
namespace {

namespace fs = std::filesystem;

// The shared tiny problem (tests/support/tiny_training.h) writing under `dir`.
v1::TrainConfig TinyConfig(const std::string& dir) {
  auto config = ParseTrainConfig(testing::kTinyTrainConfig);
  EXPECT_TRUE(config.ok()) << config.status();
  config->set_output_repository(dir + "/repo");
  config->set_checkpoint_dir(dir + "/ckpt");
  return *config;
}

TEST(TrainingDataTest, BatchesArePureFunctionsOfTheStep) {
  const v1::TrainConfig config = TinyConfig(testing::MakeTempDir("batches"));
  auto data = TrainingData::Create(config);
  ASSERT_TRUE(data.ok()) << data.status();
  const Batch a = (*data)->MakeBatch(3), b = (*data)->MakeBatch(3), c = (*data)->MakeBatch(4);
  EXPECT_EQ(a.images, b.images);
  EXPECT_EQ(a.masks, b.masks);
  EXPECT_NE(a.images, c.images);
  ASSERT_EQ(a.images.size(), 4u * 32 * 32);
  for (uint8_t m : a.masks) ASSERT_LE(m, 1);
}

TEST(TrainingDataTest, NoiseAugmentationKeepsUnitVariance) {
  v1::AugmentationConfig aug;
  aug.set_noise_rho_max(1.0);
  cv::Mat image(128, 128, CV_32F), mask = cv::Mat::zeros(128, 128, CV_8U);
  cv::randn(image, 0, 1);
  Augment(aug, 42, &image, &mask);
  cv::Scalar mean, stddev;
  cv::meanStdDev(image, mean, stddev);
  // (x + N(0, rho)) / sqrt(1 + rho^2) has unit variance for unit-variance x.
  EXPECT_NEAR(stddev[0], 1.0, 0.05);
}

TEST(TrainingDataTest, FlipsMoveImageAndMaskTogether) {
  v1::AugmentationConfig aug;
  aug.set_flips(true);
  aug.set_rot90(true);
  for (uint64_t seed = 0; seed < 8; ++seed) {
    cv::Mat image = cv::Mat::zeros(16, 16, CV_32F), mask = cv::Mat::zeros(16, 16, CV_8U);
    image(cv::Rect(1, 2, 3, 4)).setTo(5.0f);
    mask(cv::Rect(1, 2, 3, 4)).setTo(1);
    Augment(aug, seed, &image, &mask);
    EXPECT_EQ(cv::countNonZero((image > 0) != (mask > 0)), 0) << seed;
  }
}

TEST(TrainingDataTest, LabelledFolderFeedsBatchesAndValidation) {
  const std::string dir = testing::MakeTempDir("labelled");
  fs::create_directories(dir + "/images");
  fs::create_directories(dir + "/masks");
  for (int i = 0; i < 6; ++i) {
    // 45x38: not a multiple of the network's 4, so validation has to pad.
    cv::Mat mask = cv::Mat::zeros(45, 38, CV_8U);
    cv::circle(mask, cv::Point(10 + 3 * i, 20), 8, cv::Scalar(255), cv::FILLED);
    cv::Mat image(45, 38, CV_16U, cv::Scalar(100));
    image.setTo(900, mask);
    ASSERT_TRUE(cv::imwrite(dir + "/images/img" + std::to_string(i) + ".png", image));
    ASSERT_TRUE(cv::imwrite(dir + "/masks/img" + std::to_string(i) + ".png", mask));
  }
  v1::TrainConfig config = TinyConfig(testing::MakeTempDir("labelled_cfg"));
  config.clear_synthetic();
  config.mutable_labelled()->set_path(dir);
  config.mutable_labelled()->set_validation_fraction(0.3);
  config.mutable_augmentation()->set_noise_rho_max(0);  // Keep the bright/dark relation exact.
  ApplyTrainConfigDefaults(&config);
  auto data = TrainingData::Create(config);
  ASSERT_TRUE(data.ok()) << data.status();
  const Batch batch = (*data)->MakeBatch(0);
  // Standardised, a particle pixel is bright and a background pixel dark, through crops,
  // flips and rotations: the mask must follow the image.
  size_t particle = 0;
  for (size_t p = 0; p < batch.images.size(); ++p) {
    ASSERT_EQ(batch.masks[p] == 1, batch.images[p] > 0) << "pixel " << p;
    particle += batch.masks[p];
  }
  EXPECT_GT(particle, 0u);
  // Validation holds the synthetic images plus the labelled validation split.
  const auto validation = (*data)->MakeValidationSet();
  EXPECT_GE(validation.size(), static_cast<size_t>(config.validation_images()));
  EXPECT_NE((*data)->Describe().find(dir), std::string::npos);

  // A short run validates on those odd-sized labelled images too.
  config.set_steps(2);
  config.set_validate_every(2);
  config.set_output_repository("");
  auto trainer = Trainer::Create(config, {});
  ASSERT_TRUE(trainer.ok()) << trainer.status();
  auto result = (*trainer)->Run(nullptr);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_TRUE(result->best_validation.count("dice"));

  config.mutable_labelled()->set_path(dir + "/missing");
  EXPECT_FALSE(TrainingData::Create(config).ok());
}

TEST(TrainerTest, LossFallsOnATinyProblem) {
  const std::string dir = testing::MakeTempDir("train_loss");
  v1::TrainConfig config = TinyConfig(dir);
  config.set_steps(40);
  config.set_validate_every(20);
  auto trainer = Trainer::Create(config, {});
  ASSERT_TRUE(trainer.ok()) << trainer.status();
  std::vector<double> losses;
  Trainer::Options options;
  auto result = (*trainer)->Run([&](const TrainProgress& p) { losses.push_back(p.loss); });
  ASSERT_TRUE(result.ok()) << result.status();
  ASSERT_GE(losses.size(), 4u);
  EXPECT_LT(losses.back(), losses.front())
      << "first " << losses.front() << " last " << losses.back();
  EXPECT_GT(result->best_validation.at("dice"), 0.0);
  // The trained version landed in the repository with its provenance.
  ASSERT_FALSE(result->version_dir.empty());
  auto written = LoadModelConfig(result->version_dir + "/config.pbtxt");
  ASSERT_TRUE(written.ok()) << written.status();
  EXPECT_FALSE(written->untrained());
  EXPECT_EQ(written->provenance().seed(), 5u);
  EXPECT_FALSE(written->provenance().git_revision().empty());
  EXPECT_EQ(written->provenance().created_at().size(), 20u) << "ISO 8601 UTC, seconds";
  EXPECT_TRUE(written->provenance().metrics().count("val_dice"));
  EXPECT_NE(written->provenance().data().find("synthetic"), std::string::npos);
  EXPECT_TRUE(fs::exists(result->version_dir + "/weights.pt"));
  EXPECT_EQ(fs::path(result->version_dir).filename(), "1");
}

TEST(TrainerTest, ResumeReproducesTheUninterruptedRunExactly) {
  const std::string straight_dir = testing::MakeTempDir("train_straight");
  auto straight = Trainer::Create(TinyConfig(straight_dir), {});
  ASSERT_TRUE(straight.ok());
  ASSERT_TRUE((*straight)->Run(nullptr).ok());

  const std::string split_dir = testing::MakeTempDir("train_split");
  Trainer::Options first_half;
  first_half.stop_after_steps = 3;  // Not on a checkpoint or validation boundary.
  auto first = Trainer::Create(TinyConfig(split_dir), first_half);
  ASSERT_TRUE(first.ok());
  EXPECT_EQ((*first)->Run(nullptr).status().code(), absl::StatusCode::kCancelled);
  first->reset();

  // Without --resume an existing run is never overwritten.
  EXPECT_EQ(Trainer::Create(TinyConfig(split_dir), {}).status().code(),
            absl::StatusCode::kFailedPrecondition);

  Trainer::Options resume;
  resume.resume = true;
  auto second = Trainer::Create(TinyConfig(split_dir), resume);
  ASSERT_TRUE(second.ok()) << second.status();
  auto result = (*second)->Run(nullptr);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_TRUE(result->resumed);
  EXPECT_EQ(result->resumed_from_step, 3);
  EXPECT_EQ((*second)->ParameterSnapshot(), (*straight)->ParameterSnapshot());
}

// The time budget counts over interruptions: a resumed run gets what is left of it, not a
// new one (fringe-study's per-candidate budget relies on it).
TEST(TrainerTest, TimeBudgetCountsOverResumedRuns) {
  const std::string dir = testing::MakeTempDir("train_budget");
  Trainer::Options first_part;
  first_part.stop_after_steps = 3;
  auto first = Trainer::Create(TinyConfig(dir), first_part);
  ASSERT_TRUE(first.ok());
  ASSERT_EQ((*first)->Run(nullptr).status().code(), absl::StatusCode::kCancelled);
  first->reset();
  std::ifstream latest(dir + "/ckpt/LATEST");
  std::string name;
  latest >> name;
  std::ifstream state_file(dir + "/ckpt/" + name + "/state.json");
  std::stringstream text;
  text << state_file.rdbuf();
  const std::string state = text.str();
  const size_t at = state.find("\"training_seconds\"");
  ASSERT_NE(at, std::string::npos) << state;
  const double spent = std::stod(state.substr(state.find(':', at) + 1));
  EXPECT_GT(spent, 0);

  // A budget the first part already used up: the resumed run stops after one more step.
  v1::TrainConfig config = TinyConfig(dir);
  config.set_max_seconds(spent);
  Trainer::Options resume;
  resume.resume = true;
  auto second = Trainer::Create(config, resume);
  ASSERT_TRUE(second.ok()) << second.status();
  auto result = (*second)->Run(nullptr);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->steps, 4);
  EXPECT_GT(result->training_seconds, spent);
  EXPECT_FALSE(result->version_dir.empty());  // Out of time still ships the best version.
}

TEST(TrainerTest, MicroBatchesAccumulateAndYieldBetweenPieces) {
  // Without BatchNorm the accumulated gradient of two halves equals the whole batch's up to
  // the Dice term (computed per piece), so the runs stay close but are not identical; what
  // must hold exactly is the yield count and that training still learns.
  const std::string whole_dir = testing::MakeTempDir("train_whole");
  v1::TrainConfig whole = TinyConfig(whole_dir);
  whole.mutable_model()->mutable_unet()->set_batch_norm(false);
  whole.mutable_model()->mutable_unet()->set_dropout(0);
  whole.set_steps(6);
  auto a = Trainer::Create(whole, {});
  ASSERT_TRUE(a.ok());
  ASSERT_TRUE((*a)->Run(nullptr).ok());

  const std::string micro_dir = testing::MakeTempDir("train_micro");
  v1::TrainConfig micro = whole;
  micro.set_output_repository(micro_dir + "/repo");
  micro.set_checkpoint_dir(micro_dir + "/ckpt");
  micro.set_micro_batch(1);  // Batch 4 -> 4 pieces, 3 yields per step.
  int steps = 0, yields = 0;
  Trainer::Options options;
  options.before_step = [&] { ++steps; };
  options.between_micro_batches = [&] { ++yields; };
  auto b = Trainer::Create(micro, options);
  ASSERT_TRUE(b.ok()) << b.status();
  ASSERT_TRUE((*b)->Run(nullptr).ok());
  EXPECT_EQ(steps, 6);
  EXPECT_EQ(yields, 6 * 3);
  // Both runs start from the same weights; accumulated steps must stay much closer to the
  // batch steps than either moved from the start.
  const std::string fresh_dir = testing::MakeTempDir("train_fresh");
  v1::TrainConfig untouched = whole;
  untouched.set_checkpoint_dir(fresh_dir + "/ckpt");
  auto fresh = Trainer::Create(untouched, {});
  ASSERT_TRUE(fresh.ok());
  const std::vector<float> start = (*fresh)->ParameterSnapshot();
  const std::vector<float> pa = (*a)->ParameterSnapshot(), pb = (*b)->ParameterSnapshot();
  ASSERT_EQ(pa.size(), pb.size());
  ASSERT_EQ(pa.size(), start.size());
  double apart = 0, moved = 0;
  for (size_t i = 0; i < pa.size(); ++i) {
    apart += (pa[i] - pb[i]) * (pa[i] - pb[i]);
    moved += (pa[i] - start[i]) * (pa[i] - start[i]);
  }
  EXPECT_GT(apart, 0.0);  // The pieces' Dice terms differ from the batch's.
  EXPECT_LT(std::sqrt(apart), 0.5 * std::sqrt(moved))
      << "accumulated steps ended " << std::sqrt(apart) << " from batch steps, which moved "
      << std::sqrt(moved);

  v1::TrainConfig bad = whole;
  bad.set_micro_batch(-1);
  EXPECT_EQ(ValidateTrainConfig(bad).code(), absl::StatusCode::kInvalidArgument);
}

// The server runs the device's work through run_piece; every piece goes through it, pieces
// run elsewhere give the same weights, and a refused piece stops the run with a checkpoint.
TEST(TrainerTest, PiecesRunThroughRunPieceAndARefusalStopsTheRun) {
  const std::string direct_dir = testing::MakeTempDir("train_direct");
  v1::TrainConfig config = TinyConfig(direct_dir);
  config.set_micro_batch(2);  // Batch 4: 2 pieces per step.
  auto direct = Trainer::Create(config, {});
  ASSERT_TRUE(direct.ok());
  ASSERT_TRUE((*direct)->Run(nullptr).ok());

  const std::string piece_dir = testing::MakeTempDir("train_pieces");
  v1::TrainConfig pieced = config;
  pieced.set_output_repository(piece_dir + "/repo");
  pieced.set_checkpoint_dir(piece_dir + "/ckpt");
  int pieces = 0;
  Trainer::Options options;
  options.prefetch = false;
  options.run_piece = [&](const std::function<void()>& piece) {
    ++pieces;
    std::thread worker(piece);  // As on the server: another thread runs it.
    worker.join();
    return true;
  };
  auto on_thread = Trainer::Create(pieced, options);
  ASSERT_TRUE(on_thread.ok());
  ASSERT_TRUE((*on_thread)->Run(nullptr).ok());
  // 8 steps x (1 batch + 2 micro-batches) + 2 validations x 3 images.
  EXPECT_EQ(pieces, 8 * 3 + 2 * 3);
  EXPECT_EQ((*on_thread)->ParameterSnapshot(), (*direct)->ParameterSnapshot());

  const std::string refused_dir = testing::MakeTempDir("train_refused");
  v1::TrainConfig refused = config;
  refused.set_output_repository(refused_dir + "/repo");
  refused.set_checkpoint_dir(refused_dir + "/ckpt");
  int allowed = 3 * 3 + 1;  // Three steps, then the next step's batch; its first piece is refused.
  Trainer::Options stopping;
  stopping.prefetch = false;
  stopping.run_piece = [&](const std::function<void()>& piece) {
    if (allowed-- <= 0) return false;
    piece();
    return true;
  };
  auto stopped = Trainer::Create(refused, stopping);
  ASSERT_TRUE(stopped.ok());
  EXPECT_EQ((*stopped)->Run(nullptr).status().code(), absl::StatusCode::kCancelled);
  std::ifstream latest(refused_dir + "/ckpt/LATEST");
  std::string name;
  latest >> name;
  EXPECT_EQ(name, "step-000000003");
}

TEST(TrainerTest, RejectsAnUnknownOrMissingDevice) {
  const std::string dir = testing::MakeTempDir("train_device");
  Trainer::Options options;
  options.device = "tpu:0";
  auto bad = Trainer::Create(TinyConfig(dir), options);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("tpu:0"), std::string::npos);
  // Without a GPU (CI), cuda:0 is refused by name instead of failing at the first step.
  options.device = "cuda:0";
  auto gpu = Trainer::Create(TinyConfig(testing::MakeTempDir("train_cuda")), options);
  if (!gpu.ok()) {
    EXPECT_EQ(gpu.status().code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_NE(gpu.status().message().find("cuda:0"), std::string::npos);
  }
}

TEST(TrainerTest, CorruptCheckpointIsReportedAndKept) {
  const std::string dir = testing::MakeTempDir("train_corrupt");
  Trainer::Options options;
  options.stop_after_steps = 5;  // Checkpoints at step 4 (boundary) and 5 (stop).
  auto first = Trainer::Create(TinyConfig(dir), options);
  ASSERT_TRUE(first.ok());
  (void)(*first)->Run(nullptr);
  first->reset();
  const fs::path latest = fs::path(dir) / "ckpt" / "step-000000005";
  ASSERT_TRUE(fs::exists(latest / "model.pt"));
  std::ofstream(latest / "model.pt", std::ios::trunc) << "garbage";

  Trainer::Options resume;
  resume.resume = true;
  auto second = Trainer::Create(TinyConfig(dir), resume);
  ASSERT_EQ(second.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(second.status().message().find("step-000000005"), std::string::npos) << second.status();
  EXPECT_NE(second.status().message().find("step-000000004"), std::string::npos)
      << "names the previous checkpoint: " << second.status();
  EXPECT_TRUE(fs::exists(latest / "model.pt"));
  EXPECT_TRUE(fs::exists(fs::path(dir) / "ckpt" / "step-000000004" / "model.pt"));
}

TEST(TrainerTest, RejectsBadConfigs) {
  EXPECT_NE(
      ParseTrainConfig("tile: 30 model { unet { depth: 2 } }").status().message().find("tile"),
      std::string::npos);
  EXPECT_NE(
      ParseTrainConfig("seed: 4 validation_seed: 4").status().message().find("validation_seed"),
      std::string::npos);
  EXPECT_EQ(ParseTrainConfig("steps: \"many\"").status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace fringe
