// Issue 12 on the training side: domain randomisation and the held-out generator in the data
// config, scale augmentation through the server's resampling, hard-negative crops, photometric
// augmentation, and a tiny run with the focal / false-positive loss.
#include <google/protobuf/text_format.h>
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <opencv2/imgproc.hpp>

#include "models/model_config.h"
#include "sim/domain_randomization.h"
#include "tests/support/tiny_training.h"
#include "train/trainer.h"
#include "train/training_data.h"

namespace fringe {
namespace {

namespace fs = std::filesystem;

// The shared tiny problem cut to 3 steps, with the top-level fields set in `extra` replacing
// its own (a message as a whole).
absl::StatusOr<v1::TrainConfig> Tiny(const std::string& extra) {
  const std::string short_run = testing::OverrideTrainFields(
      testing::kTinyTrainConfig, "steps: 3 validate_every: 3 validation_images: 2");
  return ParseTrainConfig(testing::OverrideTrainFields(short_run, extra));
}

TEST(RobustDataConfigTest, UnknownFactorAndHeldOutGeneratorAreRefused) {
  auto unknown = Tiny("synthetic { randomize: true randomize_without: \"carbn\" }");
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(unknown.status().message().find("carbn"), std::string::npos) << unknown.status();

  auto held_out = Tiny("synthetic { held_out_generator: true }");
  ASSERT_FALSE(held_out.ok());
  EXPECT_EQ(held_out.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(held_out.status().message().find("held_out_generator is for evaluation only"),
            std::string::npos)
      << held_out.status();
  v1::SyntheticDataConfig eval;
  eval.set_held_out_generator(true);
  EXPECT_TRUE(ValidateSyntheticDataConfig(eval, 0.0225, /*evaluation=*/true).ok());

  // Scale range beyond the server's resampling factor, or without a model pixel size.
  auto wide = Tiny("synthetic { scale_pixel_min_nm: 0.004 scale_pixel_max_nm: 0.05 }");
  ASSERT_FALSE(wide.ok());
  EXPECT_NE(wide.status().message().find("factor"), std::string::npos) << wide.status();
  v1::SyntheticDataConfig scaled;
  scaled.set_scale_pixel_min_nm(0.0125);
  scaled.set_scale_pixel_max_nm(0.05);
  EXPECT_FALSE(ValidateSyntheticDataConfig(scaled, 0.0, false).ok());
  EXPECT_TRUE(ValidateSyntheticDataConfig(scaled, 0.0225, false).ok());
}

TEST(RobustDataConfigTest, RandomizeSetsTheFactorsExceptThoseLeftOut) {
  v1::SyntheticDataConfig s;
  auto classic = SyntheticSimulatorOptions(s, 64);
  ASSERT_TRUE(classic.ok());
  EXPECT_EQ(classic->carbon_only_fraction, 0.0);
  s.set_randomize(true);
  auto all = SyntheticSimulatorOptions(s, 64);
  ASSERT_TRUE(all.ok());
  auto expected = sim::RandomizedOptions(*classic, {});
  ASSERT_TRUE(expected.ok());
  EXPECT_EQ(all->carbon_only_fraction, expected->carbon_only_fraction);
  EXPECT_EQ(all->a1_max_nm, expected->a1_max_nm);
  s.add_randomize_without("content");
  auto without = SyntheticSimulatorOptions(s, 64);
  ASSERT_TRUE(without.ok());
  EXPECT_EQ(without->carbon_only_fraction, classic->carbon_only_fraction);
  EXPECT_EQ(without->a1_max_nm, expected->a1_max_nm);
  v1::SyntheticDataConfig h;
  h.set_held_out_generator(true);
  auto held = SyntheticSimulatorOptions(h, 64);
  ASSERT_TRUE(held.ok());
  EXPECT_EQ(held->carbon_model, sim::CarbonModel::kPhaseField);
  EXPECT_EQ(held->detector_model, sim::DetectorModel::kScintillatorCcd);
}

TEST(ScaleAugmentationTest, FramesAreResampledToTheModelPixelSizeAndCoverTheSize) {
  v1::SyntheticDataConfig s;
  s.set_particles_min(1);
  s.set_particles_max(2);
  s.set_diameter_min_nm(0.6);
  s.set_diameter_max_nm(1.0);
  s.set_scale_pixel_min_nm(0.0125);
  s.set_scale_pixel_max_nm(0.05);
  auto simulator = ScaledSimulator::Create(s, 64, 0.0225);
  ASSERT_TRUE(simulator.ok()) << simulator.status();
  ASSERT_TRUE((*simulator)->scaled());
  int resampled = 0;
  double smallest = 1, largest = 0;
  for (uint64_t i = 0; i < 12; ++i) {
    const ScaledSimulator::Frame f = (*simulator)->Generate(9, i);
    const double p = f.params.pixel_size_nm;
    smallest = std::min(smallest, p);
    largest = std::max(largest, p);
    EXPECT_GE(p, 0.0125 * (1 - 1e-9));
    EXPECT_LE(p, 0.05 * (1 + 1e-9));
    EXPECT_EQ(f.image.rows, 64);
    EXPECT_EQ(f.image.cols, 64);
    EXPECT_EQ(f.mask.size(), f.image.size());
    double lo, hi;
    cv::minMaxLoc(f.mask, &lo, &hi);
    EXPECT_LE(hi, 1.0);
    if (f.resampled) {
      ++resampled;
      EXPECT_DOUBLE_EQ(f.pixel_size_nm, 0.0225);
    }
    // Deterministic in (seed, index).
    const ScaledSimulator::Frame again = (*simulator)->Generate(9, i);
    EXPECT_EQ(cv::norm(f.image, again.image, cv::NORM_INF), 0.0);
    EXPECT_EQ(cv::norm(f.mask, again.mask, cv::NORM_INF), 0.0);
  }
  EXPECT_GE(resampled, 9);  // Almost all pixel sizes are outside the 2% native tolerance.
  EXPECT_LT(smallest, 0.02);
  EXPECT_GT(largest, 0.03);

  // The whole path in a batch: a pure function of the step, and recorded in the provenance.
  auto config = Tiny(R"pb(synthetic {
                            image_size: 64
                            randomize: true
                            randomize_without: "detector"
                            scale_pixel_min_nm: 0.0125
                            scale_pixel_max_nm: 0.05
                          })pb");
  ASSERT_TRUE(config.ok()) << config.status();
  auto data = TrainingData::Create(*config);
  ASSERT_TRUE(data.ok()) << data.status();
  const Batch a = (*data)->MakeBatch(2), b = (*data)->MakeBatch(2);
  EXPECT_EQ(a.images, b.images);
  EXPECT_EQ(a.masks, b.masks);
  const nlohmann::json d = nlohmann::json::parse((*data)->Describe());
  EXPECT_TRUE(d["synthetic"].contains("scale_augmentation")) << d.dump();
  EXPECT_GE(d["synthetic"]["scale_augmentation"]["buckets"].size(), 2u);
  EXPECT_EQ(d["domain_randomization"]["factors_left_out"], nlohmann::json({"detector"}));
  EXPECT_EQ(d["domain_randomization"]["factors_randomized"].size(),
            sim::NuisanceFactorNames().size() - 1);
}

TEST(ClassicAnchorTest, ClassicFractionMixesClassicFramesIntoRandomisedData) {
  v1::SyntheticDataConfig classic;
  classic.set_particles_min(1);
  classic.set_particles_max(2);
  classic.set_diameter_min_nm(0.6);
  classic.set_diameter_max_nm(1.0);
  v1::SyntheticDataConfig mixed = classic;
  mixed.set_randomize(true);
  mixed.set_classic_fraction(0.5);
  auto plain = ScaledSimulator::Create(classic, 64, 0.0225);
  auto both = ScaledSimulator::Create(mixed, 64, 0.0225);
  ASSERT_TRUE(plain.ok() && both.ok());
  int same = 0;
  const int n = 40;
  for (uint64_t i = 0; i < n; ++i) {
    const ScaledSimulator::Frame a = (*plain)->Generate(5, i);
    const ScaledSimulator::Frame b = (*both)->Generate(5, i);
    const ScaledSimulator::Frame again = (*both)->Generate(5, i);
    EXPECT_EQ(cv::norm(b.image, again.image, cv::NORM_INF), 0.0);  // Deterministic.
    // A classic-anchor frame is exactly the classic simulator's frame of that index.
    same += cv::norm(a.image, b.image, cv::NORM_INF) == 0.0;
  }
  EXPECT_GT(same, n / 4);
  EXPECT_LT(same, 3 * n / 4);

  v1::SyntheticDataConfig bad = mixed;
  bad.set_classic_fraction(1.5);
  EXPECT_FALSE(ValidateSyntheticDataConfig(bad, 0.0225, false).ok());
  bad = classic;
  bad.set_classic_fraction(0.3);  // Without randomize there is nothing to anchor.
  const absl::Status s = ValidateSyntheticDataConfig(bad, 0.0225, false);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("classic_fraction"), std::string::npos) << s;
}

TEST(HardNegativeTest, CarbonOnlyCropsAvoidParticlesWhenTheFrameAllows) {
  const std::string frames = R"pb(synthetic {
                                    image_size: 128
                                    particles_min: 1
                                    particles_max: 1
                                    diameter_min_nm: 0.6
                                    diameter_max_nm: 0.8
                                  })pb";
  auto plain = Tiny(frames);
  auto hard = Tiny(frames + " carbon_only_crop_fraction: 1");
  ASSERT_TRUE(plain.ok() && hard.ok());
  auto d0 = TrainingData::Create(*plain);
  auto d1 = TrainingData::Create(*hard);
  ASSERT_TRUE(d0.ok() && d1.ok());
  int with_particle0 = 0, with_particle1 = 0, tiles = 0;
  for (int64_t step = 0; step < 6; ++step) {
    const Batch b0 = (*d0)->MakeBatch(step), b1 = (*d1)->MakeBatch(step);
    const size_t px = static_cast<size_t>(b0.tile) * b0.tile;
    for (int i = 0; i < b0.size; ++i, ++tiles) {
      int n0 = 0, n1 = 0;
      for (size_t k = 0; k < px; ++k) {
        n0 += b0.masks[i * px + k];
        n1 += b1.masks[i * px + k];
      }
      with_particle0 += n0 > 0;
      with_particle1 += n1 > 0;
    }
  }
  // One particle of <= 36 px in a 128 px frame always leaves a free 32 px crop.
  EXPECT_EQ(with_particle1, 0);
  EXPECT_GT(with_particle0, 0);
  EXPECT_FALSE(Tiny(frames + " carbon_only_crop_fraction: 1.5").ok());
}

cv::Mat TestTile(uint64_t seed) {
  cv::Mat t(64, 64, CV_32F);
  cv::randn(t, 0, 1);
  cv::GaussianBlur(t, t, cv::Size(0, 0), 1.0);
  cv::Scalar m, s;
  cv::meanStdDev(t, m, s);
  return (t - m[0]) / s[0] + 0.05 * static_cast<double>(seed % 3);
}

TEST(PhotometricAugmentationTest, DeterministicMaskUnchangedStatisticsKept) {
  v1::AugmentationConfig a;
  a.set_contrast_min(0.6);
  a.set_contrast_max(1.5);
  a.set_background_max(1.0);
  a.set_blur_sigma_min_px(0.5);
  a.set_blur_sigma_max_px(1.5);
  const cv::Mat original = TestTile(1);
  cv::Mat mask = cv::Mat::zeros(64, 64, CV_8U);
  cv::circle(mask, {20, 30}, 8, cv::Scalar(1), -1);
  const cv::Mat mask0 = mask.clone();
  int changed = 0;
  for (uint64_t seed = 1; seed <= 8; ++seed) {
    cv::Mat x = original.clone(), y = original.clone(), m = mask.clone(), n = mask.clone();
    Augment(a, seed, &x, &m);
    Augment(a, seed, &y, &n);
    EXPECT_EQ(cv::norm(x, y, cv::NORM_INF), 0.0);      // Deterministic.
    EXPECT_EQ(cv::norm(m, mask0, cv::NORM_INF), 0.0);  // Photometric only: mask untouched.
    cv::Scalar m0, s0, m1, s1;
    cv::meanStdDev(original, m0, s0);
    cv::meanStdDev(x, m1, s1);
    EXPECT_NEAR(m1[0], m0[0], 1e-4);  // Brought back to the tile's own statistics.
    EXPECT_NEAR(s1[0], s0[0], 1e-4);
    EXPECT_TRUE(cv::checkRange(x));
    if (cv::norm(x, original, cv::NORM_L2) / 64 > 0.05) ++changed;
  }
  EXPECT_GE(changed, 6);
  // Different seeds differ.
  cv::Mat p = original.clone(), q = original.clone(), mp = mask.clone(), mq = mask.clone();
  Augment(a, 11, &p, &mp);
  Augment(a, 12, &q, &mq);
  EXPECT_GT(cv::norm(p, q, cv::NORM_INF), 0.0);
  // Without photometric ranges the tile is exactly what it always was.
  v1::AugmentationConfig plain;
  plain.set_noise_rho_max(0.2);
  v1::AugmentationConfig with = plain;
  with.set_blur_sigma_max_px(0);
  cv::Mat r = original.clone(), s = original.clone();
  Augment(plain, 4, &r, &mp);
  Augment(with, 4, &s, &mq);
  EXPECT_EQ(cv::norm(r, s, cv::NORM_INF), 0.0);
}

TEST(PhotometricAugmentationTest, GammaActsOnRawIntensities) {
  v1::AugmentationConfig a;
  a.set_gamma_min(0.7);
  a.set_gamma_max(1.4);
  cv::Mat raw(32, 32, CV_32F);
  cv::randu(raw, 50, 150);
  std::vector<double> gammas;
  for (uint64_t seed = 0; seed < 20; ++seed) {
    cv::Mat x = raw.clone(), y = raw.clone();
    const double g = ApplyGamma(a, seed, &x);
    EXPECT_EQ(ApplyGamma(a, seed, &y), g);
    EXPECT_EQ(cv::norm(x, y, cv::NORM_INF), 0.0);
    EXPECT_GE(g, 0.7 - 1e-12);
    EXPECT_LE(g, 1.4 + 1e-12);
    double lo, hi;
    cv::minMaxLoc(x, &lo, &hi);
    EXPECT_GT(lo, 0);
    // Monotonic: the brightest pixel stays the brightest.
    cv::Point pr, px;
    cv::minMaxLoc(raw, nullptr, nullptr, nullptr, &pr);
    cv::minMaxLoc(x, nullptr, nullptr, nullptr, &px);
    EXPECT_EQ(pr, px);
    gammas.push_back(g);
  }
  EXPECT_LT(*std::min_element(gammas.begin(), gammas.end()), 0.95);
  EXPECT_GT(*std::max_element(gammas.begin(), gammas.end()), 1.05);
  v1::AugmentationConfig off;
  cv::Mat x = raw.clone();
  EXPECT_EQ(ApplyGamma(off, 3, &x), 1.0);
  EXPECT_EQ(cv::norm(x, raw, cv::NORM_INF), 0.0);
}

TEST(RobustTrainingTest, TinyRunWithEverythingOnTrainsAndRecordsIt) {
  const fs::path dir =
      fs::temp_directory_path() / ("fringe_robust_train_" + std::to_string(getpid()));
  fs::remove_all(dir);
  auto config = Tiny(R"pb(
    synthetic {
      image_size: 64
      particles_min: 1
      particles_max: 2
      diameter_min_nm: 0.6
      diameter_max_nm: 1.0
      randomize: true
      scale_pixel_min_nm: 0.015
      scale_pixel_max_nm: 0.035
    }
    augmentation {
      flips: true
      noise_rho_max: 0.2
      gamma_min: 0.8
      gamma_max: 1.25
      contrast_min: 0.7
      contrast_max: 1.3
      background_max: 0.5
      blur_sigma_max_px: 1.0
    }
    loss { focal_gamma: 2 false_positive_weight: 0.5 }
    carbon_only_crop_fraction: 0.3
  )pb");
  ASSERT_TRUE(config.ok()) << config.status();
  config->set_output_repository((dir / "repo").string());
  config->set_checkpoint_dir((dir / "ckpt").string());
  auto trainer = Trainer::Create(*config, {});
  ASSERT_TRUE(trainer.ok()) << trainer.status();
  std::vector<double> losses;
  auto result = (*trainer)->Run([&](const TrainProgress& p) { losses.push_back(p.loss); });
  ASSERT_TRUE(result.ok()) << result.status();
  ASSERT_FALSE(losses.empty());
  for (double l : losses) EXPECT_TRUE(std::isfinite(l) && l > 0) << l;
  auto model = LoadModelConfig((fs::path(result->version_dir) / "config.pbtxt").string());
  ASSERT_TRUE(model.ok()) << model.status();
  const nlohmann::json d = nlohmann::json::parse(model->provenance().data());
  EXPECT_EQ(d["loss"]["focal_gamma"], 2.0);
  EXPECT_EQ(d["loss"]["false_positive_weight"], 0.5);
  EXPECT_EQ(d["carbon_only_crop_fraction"], 0.3);
  EXPECT_EQ(d["augmentation"]["gamma"], nlohmann::json({0.8, 1.25}));
  EXPECT_TRUE(d["synthetic"].contains("scale_augmentation"));
  EXPECT_TRUE(d.contains("domain_randomization"));
  fs::remove_all(dir);
}

}  // namespace
}  // namespace fringe
