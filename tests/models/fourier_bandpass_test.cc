#include "models/fourier_bandpass.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <opencv2/imgproc.hpp>
#include <string>
#include <thread>
#include <vector>

#include "models/frame_segmenter.h"
#include "models/model_config.h"
#include "models/model_registry.h"

#ifdef FRINGE_HAVE_SIM
#include "sim/hrtem_physics.h"
#include "sim/hrtem_simulator.h"
#endif

namespace fringe {
namespace {

constexpr double kPi = 3.14159265358979323846;
constexpr double kPixelNm = 0.0225;  // As the shipped config.
constexpr double kAu111Nm = 0.235;
constexpr double kAu200Nm = 0.204;

v1::ModelConfig BaselineConfig() {
  v1::ModelConfig config;
  config.set_architecture("fourier-bandpass");
  config.set_pixel_size_nm(kPixelNm);
  ApplyModelConfigDefaults(&config);
  return config;
}

std::unique_ptr<FourierBandpassSegmenter> MakeModel(const v1::ModelConfig& config) {
  absl::StatusOr<std::unique_ptr<FourierBandpassSegmenter>> model =
      FourierBandpassSegmenter::Create(config);
  EXPECT_TRUE(model.ok()) << model.status();
  return model.ok() ? std::move(*model) : nullptr;
}

// A particle in the synthetic images: a disk of lattice fringes.
struct Disk {
  double cx, cy, radius_px;
  double angle_deg;  // Direction of the fringes' wave vector.
};

// Unit-variance white Gaussian noise (shot noise and amorphous support) everywhere, plus, in
// each disk, fringes amplitude * cos(2 pi k . x) of period `period_nm`: a crystalline
// particle seen down a zone axis.
cv::Mat FringeFrame(int rows, int cols, const std::vector<Disk>& disks, double period_nm,
                    double amplitude, uint64_t seed) {
  cv::Mat frame(rows, cols, CV_32F);
  cv::RNG rng(seed);
  rng.fill(frame, cv::RNG::NORMAL, 0.0, 1.0);
  const double period_px = period_nm / kPixelNm;
  for (const Disk& d : disks) {
    const double kx = std::cos(d.angle_deg * kPi / 180) / period_px;
    const double ky = std::sin(d.angle_deg * kPi / 180) / period_px;
    for (int y = 0; y < rows; ++y) {
      for (int x = 0; x < cols; ++x) {
        if (std::hypot(x - d.cx, y - d.cy) <= d.radius_px) {
          frame.at<float>(y, x) +=
              static_cast<float>(amplitude * std::cos(2 * kPi * (kx * x + ky * y)));
        }
      }
    }
  }
  return frame;
}

cv::Mat DiskMask(int rows, int cols, const std::vector<Disk>& disks, double grow_px = 0) {
  cv::Mat mask = cv::Mat::zeros(rows, cols, CV_8U);
  for (const Disk& d : disks) {
    for (int y = 0; y < rows; ++y) {
      for (int x = 0; x < cols; ++x) {
        if (std::hypot(x - d.cx, y - d.cy) <= d.radius_px + grow_px) mask.at<uint8_t>(y, x) = 1;
      }
    }
  }
  return mask;
}

double Dice(const cv::Mat& a, const cv::Mat& b) {
  const double both = cv::countNonZero(a & b);
  const double sum = cv::countNonZero(a) + cv::countNonZero(b);
  return sum == 0 ? 1.0 : 2 * both / sum;
}

double Fraction(const cv::Mat& mask) {
  return static_cast<double>(cv::countNonZero(mask)) / mask.total();
}

// Fraction of the pixels outside `region` that are set in `mask`.
double FalsePositiveFraction(const cv::Mat& mask, const cv::Mat& region) {
  const cv::Mat outside = region == 0;
  return static_cast<double>(cv::countNonZero(mask & outside)) / cv::countNonZero(outside);
}

FrameSegmenterOptions Tiling(const v1::ModelConfig& config) {
  FrameSegmenterOptions options;
  options.tile_size = config.tile_size();
  options.tile_margin = config.tile_margin();
  return options;
}

FrameOutput Segment(const Segmenter& model, const cv::Mat& frame,
                    const FrameSegmenterOptions& options) {
  absl::StatusOr<FrameOutput> out = SegmentFrame(model, frame, options);
  EXPECT_TRUE(out.ok()) << out.status();
  return out.ok() ? std::move(*out) : FrameOutput{};
}

// A 5.6 nm particle (radius 125 px) in the middle of a 512 x 512 (11.5 nm) frame.
const std::vector<Disk> kCentralDisk = {{256, 240, 125, 30}};

TEST(FourierBandpassTest, BandCentresComeFromPixelSizeAndSpacings) {
  auto model = MakeModel(BaselineConfig());
  ASSERT_NE(model, nullptr);
  ASSERT_EQ(model->band_centers().size(), 2u);
  EXPECT_NEAR(model->band_centers()[0], kPixelNm / kAu111Nm, 1e-12);
  EXPECT_NEAR(model->band_centers()[1], kPixelNm / kAu200Nm, 1e-12);
  EXPECT_EQ(model->num_classes(), 2);
  EXPECT_EQ(model->input_multiple(), 1);
  EXPECT_EQ(model->parameter_count(), 0);
}

TEST(FourierBandpassTest, FindsAFringeDiskAndLittleElse) {
  const v1::ModelConfig config = BaselineConfig();
  auto model = MakeModel(config);
  ASSERT_NE(model, nullptr);
  for (uint64_t seed : {1u, 2u}) {
    const cv::Mat frame = FringeFrame(512, 512, kCentralDisk, kAu111Nm, 0.6, seed);
    const FrameOutput out = Segment(*model, frame, Tiling(config));
    ASSERT_FALSE(out.mask.empty());
    const cv::Mat truth = DiskMask(512, 512, kCentralDisk);
    EXPECT_GT(Dice(out.mask, truth), 0.8) << "seed " << seed;
    // Nothing beyond 1 nm (~44 px) from the particle.
    EXPECT_LT(FalsePositiveFraction(out.mask, DiskMask(512, 512, kCentralDisk, 1.0 / kPixelNm)),
              0.002)
        << "seed " << seed;
  }
}

TEST(FourierBandpassTest, Finds200FringesToo) {
  const v1::ModelConfig config = BaselineConfig();
  auto model = MakeModel(config);
  ASSERT_NE(model, nullptr);
  const cv::Mat frame = FringeFrame(512, 512, kCentralDisk, kAu200Nm, 0.6, 3);
  const FrameOutput out = Segment(*model, frame, Tiling(config));
  EXPECT_GT(Dice(out.mask, DiskMask(512, 512, kCentralDisk)), 0.8);
}

TEST(FourierBandpassTest, PureNoiseGivesAnAlmostEmptyMask) {
  const v1::ModelConfig config = BaselineConfig();
  auto model = MakeModel(config);
  ASSERT_NE(model, nullptr);
  for (uint64_t seed : {11u, 12u, 13u, 14u}) {
    const cv::Mat frame = FringeFrame(512, 512, {}, kAu111Nm, 0, seed);
    const FrameOutput out = Segment(*model, frame, Tiling(config));
    EXPECT_LT(Fraction(out.mask), 0.005) << "seed " << seed;
  }
}

TEST(FourierBandpassTest, IgnoresFringesAtOtherSpacings) {
  const v1::ModelConfig config = BaselineConfig();
  auto model = MakeModel(config);
  ASSERT_NE(model, nullptr);
  // Strong fringes, but at 0.5 nm (e.g. a lattice of something else, or carbon contrast).
  const cv::Mat wrong = FringeFrame(512, 512, kCentralDisk, 0.5, 1.5, 4);
  EXPECT_LT(Fraction(Segment(*model, wrong, Tiling(config)).mask), 0.005);
  // The same disk at the Au {111} spacing is found: the test above is not vacuous.
  const cv::Mat right = FringeFrame(512, 512, kCentralDisk, kAu111Nm, 1.5, 4);
  EXPECT_GT(Dice(Segment(*model, right, Tiling(config)).mask, DiskMask(512, 512, kCentralDisk)),
            0.8);
}

TEST(FourierBandpassTest, ConfiguredSpacingsDecideWhatIsFound) {
  // Only {200} configured: {111} fringes (outside its +-15% band) are not found.
  v1::ModelConfig config = BaselineConfig();
  config.mutable_fourier_bandpass()->clear_d_spacings_nm();
  config.mutable_fourier_bandpass()->add_d_spacings_nm(kAu200Nm);
  config.mutable_fourier_bandpass()->set_relative_bandwidth(0.05);
  auto model = MakeModel(config);
  ASSERT_NE(model, nullptr);
  const cv::Mat frame = FringeFrame(512, 512, kCentralDisk, kAu111Nm, 1.0, 5);
  EXPECT_LT(Fraction(Segment(*model, frame, Tiling(config)).mask), 0.005);
}

TEST(FourierBandpassTest, TilingGivesTheSameMaskAsOneTile) {
  const v1::ModelConfig config = BaselineConfig();
  auto model = MakeModel(config);
  ASSERT_NE(model, nullptr);
  // Three particles, one across the seams of the small tiling below.
  const std::vector<Disk> disks = {{200, 220, 110, 10}, {520, 500, 120, 75}, {820, 260, 90, -40}};
  const cv::Mat frame = FringeFrame(720, 1000, disks, kAu111Nm, 0.6, 6);
  const cv::Mat truth = DiskMask(720, 1000, disks);

  FrameSegmenterOptions one_tile;
  one_tile.tile_size = 1024;
  one_tile.tile_margin = 128;
  const FrameOutput whole = Segment(*model, frame, one_tile);
  EXPECT_EQ(whole.tiles, 1);

  FrameSegmenterOptions small_tiles;
  small_tiles.tile_size = 384;
  small_tiles.tile_margin = 128;
  small_tiles.max_batch = 3;
  const FrameOutput tiled = Segment(*model, frame, small_tiles);
  EXPECT_GT(tiled.tiles, 4);

  EXPECT_GT(Dice(whole.mask, truth), 0.8);
  EXPECT_GT(Dice(tiled.mask, truth), 0.8);
  EXPECT_GT(Dice(tiled.mask, whole.mask), 0.95);
}

TEST(FourierBandpassTest, ProbabilitiesAreConsistentWithTheMask) {
  const v1::ModelConfig config = BaselineConfig();
  auto model = MakeModel(config);
  ASSERT_NE(model, nullptr);
  const cv::Mat frame = FringeFrame(512, 512, kCentralDisk, kAu111Nm, 0.6, 7);
  const FrameOutput out = Segment(*model, frame, Tiling(config));
  ASSERT_EQ(out.class_probabilities.size(), 2u);
  const cv::Mat& background = out.class_probabilities[0];
  const cv::Mat& particle = out.class_probabilities[1];
  double lo, hi;
  cv::minMaxLoc(particle, &lo, &hi);
  EXPECT_GE(lo, 0.0);
  EXPECT_LE(hi, 1.0);
  cv::Mat sum = background + particle;
  cv::minMaxLoc(sum, &lo, &hi);
  EXPECT_NEAR(lo, 1.0, 1e-6);
  EXPECT_NEAR(hi, 1.0, 1e-6);
  // p > 0.5 exactly on the mask.
  const cv::Mat above = particle > 0.5f;
  const cv::Mat mask255 = out.mask * 255;
  EXPECT_EQ(cv::countNonZero(above != mask255), 0);
  // Confident deep inside and far outside the particle.
  const std::vector<Disk> core = {{256, 240, 80, 0}};
  const cv::Mat inside = DiskMask(512, 512, core);
  const cv::Mat outside = DiskMask(512, 512, kCentralDisk, 1.0 / kPixelNm) == 0;
  EXPECT_GT(cv::mean(particle, inside)[0], 0.9);
  EXPECT_LT(cv::mean(particle, outside)[0], 0.05);

  // The same holds tile by tile in Predict's output.
  std::vector<float> probs;
  cv::Mat standardised;
  cv::Scalar mean, stddev;
  cv::meanStdDev(frame, mean, stddev);
  frame.convertTo(standardised, CV_32F, 1 / stddev[0], -mean[0] / stddev[0]);
  ASSERT_TRUE(model->Predict(standardised.ptr<float>(), 1, 512, 512, &probs).ok());
  absl::StatusOr<FourierBandpassSegmenter::TileResult> tile = model->SegmentTile(standardised);
  ASSERT_TRUE(tile.ok()) << tile.status();
  const size_t px = 512 * 512;
  ASSERT_EQ(probs.size(), 2 * px);
  size_t mismatches = 0;
  for (size_t i = 0; i < px; ++i) {
    const bool fg = probs[px + i] > probs[i];
    mismatches += fg != (tile->mask.ptr<uint8_t>()[i] == 1);
  }
  EXPECT_EQ(mismatches, 0u);
}

TEST(FourierBandpassTest, EnergyIsHighOnFringesAndNearOneOnNoise) {
  auto model = MakeModel(BaselineConfig());
  ASSERT_NE(model, nullptr);
  const cv::Mat frame = FringeFrame(512, 512, kCentralDisk, kAu111Nm, 0.6, 8);
  absl::StatusOr<FourierBandpassSegmenter::TileResult> r = model->SegmentTile(frame);
  ASSERT_TRUE(r.ok()) << r.status();
  const cv::Mat inside = DiskMask(512, 512, {{256, 240, 80, 0}});
  const cv::Mat outside = DiskMask(512, 512, kCentralDisk, 1.0 / kPixelNm) == 0;
  // Fringe power 0.6^2 / 2 against the few percent of white noise power in the rings.
  EXPECT_GT(cv::mean(r->energy, inside)[0], 5.0);
  EXPECT_NEAR(cv::mean(r->energy, outside)[0], 1.0, 0.3);
  EXPECT_GT(r->threshold, 1.5);
  EXPECT_LT(r->threshold, 5.0);
}

TEST(FourierBandpassTest, FixedThresholdIsUsed) {
  v1::ModelConfig config = BaselineConfig();
  config.mutable_fourier_bandpass()->set_threshold(4.0);
  auto model = MakeModel(config);
  ASSERT_NE(model, nullptr);
  const cv::Mat frame = FringeFrame(512, 512, kCentralDisk, kAu111Nm, 0.6, 9);
  absl::StatusOr<FourierBandpassSegmenter::TileResult> r = model->SegmentTile(frame);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->threshold, 4.0);
  EXPECT_GT(Dice(r->mask, DiskMask(512, 512, kCentralDisk)), 0.8);

  config.mutable_fourier_bandpass()->set_threshold(1e6);
  auto strict = MakeModel(config);
  ASSERT_NE(strict, nullptr);
  r = strict->SegmentTile(frame);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(cv::countNonZero(r->mask), 0);
}

TEST(FourierBandpassTest, DropsRegionsSmallerThanMinArea) {
  // A 0.8 nm-radius particle (2 nm^2): kept with the default 1 nm^2, dropped at 4 nm^2.
  const std::vector<Disk> small = {{256, 256, 0.8 / kPixelNm, 45}};
  const cv::Mat frame = FringeFrame(512, 512, small, kAu111Nm, 1.5, 10);
  v1::ModelConfig config = BaselineConfig();
  auto model = MakeModel(config);
  ASSERT_NE(model, nullptr);
  EXPECT_GT(Dice(Segment(*model, frame, Tiling(config)).mask, DiskMask(512, 512, small)), 0.6);
  config.mutable_fourier_bandpass()->set_min_area_nm2(4.0);
  auto strict = MakeModel(config);
  ASSERT_NE(strict, nullptr);
  const FrameOutput out = Segment(*strict, frame, Tiling(config));
  EXPECT_EQ(cv::countNonZero(out.mask), 0);
  // The dropped region's strong energy does not leak into the probabilities.
  double lo, hi;
  cv::minMaxLoc(out.class_probabilities[1], &lo, &hi);
  EXPECT_LT(hi, 0.5);
}

TEST(FourierBandpassTest, ClosingBridgesNarrowGapsAndProbabilitiesFollow) {
  // A particle cut by a 0.3 nm fringe-free band (say a grain boundary). With little smoothing
  // its energy dips below threshold there; a 0.5 nm closing bridges the gap.
  const std::vector<Disk> disk = {{256, 256, 120, 60}};
  cv::Mat frame = FringeFrame(512, 512, disk, kAu111Nm, 1.5, 50);
  const int gap = static_cast<int>(0.3 / kPixelNm);
  cv::Mat band = frame.colRange(256 - gap / 2, 256 - gap / 2 + gap);
  cv::RNG(51).fill(band, cv::RNG::NORMAL, 0.0, 1.0);
  const cv::Rect gap_core(256 - 2, 256 - 60, 4, 120);  // Middle of the band, inside the disk.

  v1::ModelConfig config = BaselineConfig();
  config.mutable_fourier_bandpass()->set_smoothing_nm(0.08);
  config.mutable_fourier_bandpass()->set_closing_nm(0.01);  // (0 would mean the default.)
  auto open = MakeModel(config);
  ASSERT_NE(open, nullptr);
  const FrameOutput split = Segment(*open, frame, Tiling(config));
  EXPECT_EQ(cv::countNonZero(split.mask(gap_core)), 0) << "the gap is visible without closing";

  config.mutable_fourier_bandpass()->set_closing_nm(0.5);
  auto closing = MakeModel(config);
  ASSERT_NE(closing, nullptr);
  const FrameOutput bridged = Segment(*closing, frame, Tiling(config));
  EXPECT_EQ(cv::countNonZero(bridged.mask(gap_core)), gap_core.area());
  // Closed pixels have low energy but must still read as particle.
  double lo, hi;
  cv::minMaxLoc(bridged.class_probabilities[1](gap_core), &lo, &hi);
  EXPECT_GT(lo, 0.5);
  EXPECT_GT(Dice(bridged.mask, DiskMask(512, 512, disk)), 0.9);
}

TEST(FourierBandpassTest, IsDeterministicAndThreadSafe) {
  auto model = MakeModel(BaselineConfig());
  ASSERT_NE(model, nullptr);
  const cv::Mat a = FringeFrame(256, 256, {{128, 128, 70, 20}}, kAu111Nm, 0.8, 20);
  const cv::Mat b = FringeFrame(256, 256, {{100, 150, 60, 80}}, kAu200Nm, 0.8, 21);
  cv::Mat batch(512, 256, CV_32F);
  a.copyTo(batch.rowRange(0, 256));
  b.copyTo(batch.rowRange(256, 512));
  std::vector<float> first, single;
  ASSERT_TRUE(model->Predict(batch.ptr<float>(), 2, 256, 256, &first).ok());
  // A batch is the tiles one at a time.
  ASSERT_TRUE(model->Predict(b.ptr<float>(), 1, 256, 256, &single).ok());
  ASSERT_EQ(first.size(), 2 * single.size());
  EXPECT_EQ(std::memcmp(first.data() + single.size(), single.data(), single.size() * sizeof(float)),
            0);
  // Concurrent calls (sharing the filter cache) give identical bytes.
  std::vector<std::vector<float>> outputs(4);
  std::vector<std::thread> threads;
  for (auto& out : outputs) {
    threads.emplace_back([&] { (void)model->Predict(batch.ptr<float>(), 2, 256, 256, &out); });
  }
  for (auto& t : threads) t.join();
  for (const auto& out : outputs) {
    ASSERT_EQ(out.size(), first.size());
    EXPECT_EQ(std::memcmp(out.data(), first.data(), first.size() * sizeof(float)), 0);
  }
}

TEST(FourierBandpassTest, ConcurrentFirstCallsOnNewSizesAgree) {
  auto model = MakeModel(BaselineConfig());
  ASSERT_NE(model, nullptr);
  const cv::Mat frame = FringeFrame(200, 300, {{150, 100, 60, 0}}, kAu111Nm, 0.8, 22);
  std::vector<std::vector<float>> outputs(3);
  std::vector<std::thread> threads;
  for (auto& out : outputs) {
    threads.emplace_back([&] { (void)model->Predict(frame.ptr<float>(), 1, 200, 300, &out); });
  }
  for (auto& t : threads) t.join();
  ASSERT_EQ(outputs[0].size(), 2u * 200 * 300);
  for (const auto& out : outputs) EXPECT_EQ(out, outputs[0]);
}

TEST(FourierBandpassTest, HandlesTinyAndOddFrames) {
  const v1::ModelConfig config = BaselineConfig();
  auto model = MakeModel(config);
  ASSERT_NE(model, nullptr);
  for (auto [rows, cols] : std::vector<std::pair<int, int>>{{1, 1}, {5, 3}, {3, 200}, {97, 61}}) {
    const cv::Mat frame = FringeFrame(rows, cols, {}, kAu111Nm, 0, rows * 100 + cols);
    const FrameOutput out = Segment(*model, frame, Tiling(config));
    ASSERT_EQ(out.mask.size(), frame.size()) << rows << "x" << cols;
    EXPECT_EQ(cv::countNonZero(out.mask), 0) << rows << "x" << cols;
    const cv::Mat sum = out.class_probabilities[0] + out.class_probabilities[1];
    double lo, hi;
    cv::minMaxLoc(sum, &lo, &hi);
    EXPECT_NEAR(lo, 1.0, 1e-6);
    EXPECT_NEAR(hi, 1.0, 1e-6);
  }
  // A constant tile has no band-passed signal: all background, no NaN.
  const cv::Mat zeros = cv::Mat::zeros(64, 64, CV_32F);
  absl::StatusOr<FourierBandpassSegmenter::TileResult> r = model->SegmentTile(zeros);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(cv::countNonZero(r->mask), 0);
  EXPECT_TRUE(cv::checkRange(r->probability, true, nullptr, 0.0, 0.5));
}

TEST(FourierBandpassTest, PredictRejectsBadInput) {
  auto model = MakeModel(BaselineConfig());
  ASSERT_NE(model, nullptr);
  std::vector<float> input(64 * 64, 0.5f), probs;
  EXPECT_EQ(model->Predict(nullptr, 1, 64, 64, &probs).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(model->Predict(input.data(), 1, 64, 64, nullptr).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(model->Predict(input.data(), 0, 64, 64, &probs).code(),
            absl::StatusCode::kInvalidArgument);
  input[100] = std::nanf("");
  const absl::Status s = model->Predict(input.data(), 1, 64, 64, &probs);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("NaN"), std::string::npos) << s;
}

struct BadConfig {
  std::string name;
  std::function<void(v1::ModelConfig*)> edit;
  std::string field;  // Must appear in the message.
};

TEST(FourierBandpassTest, ValidationErrorsNameTheField) {
  const std::vector<BadConfig> cases = {
      {"no pixel size", [](v1::ModelConfig* c) { c->set_pixel_size_nm(0); }, "pixel_size_nm"},
      {"negative pixel size", [](v1::ModelConfig* c) { c->set_pixel_size_nm(-0.02); },
       "pixel_size_nm"},
      {"NaN pixel size", [](v1::ModelConfig* c) { c->set_pixel_size_nm(std::nan("")); },
       "pixel_size_nm"},
      {"negative spacing",
       [](v1::ModelConfig* c) { c->mutable_fourier_bandpass()->set_d_spacings_nm(1, -0.2); },
       "fourier_bandpass.d_spacings_nm[1]"},
      {"spacing beyond Nyquist",
       [](v1::ModelConfig* c) { c->mutable_fourier_bandpass()->add_d_spacings_nm(0.04); },
       "Nyquist"},
      {"spacing of many pixels",
       [](v1::ModelConfig* c) { c->mutable_fourier_bandpass()->add_d_spacings_nm(5.0); },
       "fourier_bandpass.d_spacings_nm[2]"},
      {"bandwidth too narrow",
       [](v1::ModelConfig* c) { c->mutable_fourier_bandpass()->set_relative_bandwidth(0.001); },
       "fourier_bandpass.relative_bandwidth"},
      {"bandwidth too wide",
       [](v1::ModelConfig* c) { c->mutable_fourier_bandpass()->set_relative_bandwidth(0.9); },
       "fourier_bandpass.relative_bandwidth"},
      {"negative bandwidth",
       [](v1::ModelConfig* c) { c->mutable_fourier_bandpass()->set_relative_bandwidth(-0.1); },
       "fourier_bandpass.relative_bandwidth"},
      {"negative smoothing",
       [](v1::ModelConfig* c) { c->mutable_fourier_bandpass()->set_smoothing_nm(-1); },
       "fourier_bandpass.smoothing_nm"},
      {"huge smoothing",
       [](v1::ModelConfig* c) { c->mutable_fourier_bandpass()->set_smoothing_nm(100); },
       "fourier_bandpass.smoothing_nm"},
      {"negative threshold",
       [](v1::ModelConfig* c) { c->mutable_fourier_bandpass()->set_threshold(-1); },
       "fourier_bandpass.threshold"},
      {"negative min area",
       [](v1::ModelConfig* c) { c->mutable_fourier_bandpass()->set_min_area_nm2(-1); },
       "fourier_bandpass.min_area_nm2"},
      {"negative closing",
       [](v1::ModelConfig* c) { c->mutable_fourier_bandpass()->set_closing_nm(-0.1); },
       "fourier_bandpass.closing_nm"},
      {"three classes", [](v1::ModelConfig* c) { c->add_classes("support"); }, "classes"},
  };
  for (const BadConfig& bad : cases) {
    v1::ModelConfig config = BaselineConfig();
    bad.edit(&config);
    absl::StatusOr<std::unique_ptr<Segmenter>> model = CreateFourierBandpassSegmenter(config);
    ASSERT_FALSE(model.ok()) << bad.name;
    EXPECT_EQ(model.status().code(), absl::StatusCode::kInvalidArgument) << bad.name;
    EXPECT_NE(model.status().message().find(bad.field), std::string::npos)
        << bad.name << ": " << model.status();
    // ValidateModelConfig (used when a repository is loaded) says the same.
    EXPECT_EQ(ValidateModelConfig(config).code(), absl::StatusCode::kInvalidArgument) << bad.name;
  }
}

TEST(FourierBandpassTest, ParsedConfigGetsTheDocumentedDefaults) {
  absl::StatusOr<v1::ModelConfig> config = ParseModelConfig(R"pb(
    architecture: "fourier-bandpass"
    pixel_size_nm: 0.02
  )pb");
  ASSERT_TRUE(config.ok()) << config.status();
  const v1::FourierBandpassParams& p = config->fourier_bandpass();
  ASSERT_EQ(p.d_spacings_nm_size(), 2);
  EXPECT_EQ(p.d_spacings_nm(0), 0.235);
  EXPECT_EQ(p.d_spacings_nm(1), 0.204);
  EXPECT_EQ(p.relative_bandwidth(), 0.1);
  EXPECT_EQ(p.smoothing_nm(), 0.4);
  EXPECT_EQ(p.threshold(), 0.0);
  EXPECT_EQ(p.min_area_nm2(), 1.0);
  EXPECT_EQ(p.closing_nm(), 0.3);
  EXPECT_EQ(config->tile_size(), 1024);
  EXPECT_EQ(config->tile_margin(), 128);

  // Without a pixel size the bands cannot be placed.
  absl::StatusOr<v1::ModelConfig> unknown = ParseModelConfig("architecture: \"fourier-bandpass\"");
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.status().message().find("pixel_size_nm"), std::string::npos)
      << unknown.status();
}

TEST(FourierBandpassTest, RegistryBuildsItWithoutWeights) {
  const ModelRegistry registry = ModelRegistry::WithBuiltins();
  const std::vector<std::string> names = registry.architectures();
  EXPECT_NE(std::find(names.begin(), names.end(), "unet"), names.end());
  EXPECT_NE(std::find(names.begin(), names.end(), "fourier-bandpass"), names.end());
  LoadContext context;
  context.version_dir = "/nonexistent/fourier-bandpass/1";
  absl::StatusOr<std::unique_ptr<Segmenter>> model = registry.Create(BaselineConfig(), context);
  ASSERT_TRUE(model.ok()) << model.status();
  EXPECT_EQ((*model)->num_classes(), 2);
  v1::ModelConfig bad = BaselineConfig();
  bad.set_pixel_size_nm(0);
  EXPECT_EQ(registry.Create(bad, context).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(FourierBandpassTest, ShippedRepositoryEntryLoadsAndSegments) {
  absl::StatusOr<v1::ModelConfig> config = LoadModelConfig(
      std::string(FRINGE_SOURCE_DIR) + "/models/repository/fourier-bandpass/1/config.pbtxt");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->architecture(), "fourier-bandpass");
  EXPECT_EQ(config->pixel_size_nm(), kPixelNm);
  EXPECT_FALSE(config->description().empty());
  // The margin covers several smoothing lengths.
  EXPECT_GE(config->tile_margin() * config->pixel_size_nm(),
            3 * config->fourier_bandpass().smoothing_nm());
  auto model = MakeModel(*config);
  ASSERT_NE(model, nullptr);
  const cv::Mat frame = FringeFrame(512, 512, kCentralDisk, kAu111Nm, 0.6, 30);
  EXPECT_GT(Dice(Segment(*model, frame, Tiling(*config)).mask, DiskMask(512, 512, kCentralDisk)),
            0.8);
}

// Not a correctness check: prints the cost of one 512 x 512 frame (one tile) for the record.
TEST(FourierBandpassTest, ReportsTimePerFrame) {
  const v1::ModelConfig config = BaselineConfig();
  auto model = MakeModel(config);
  ASSERT_NE(model, nullptr);
  const cv::Mat frame = FringeFrame(512, 512, kCentralDisk, kAu111Nm, 0.6, 40);
  (void)Segment(*model, frame, Tiling(config));  // Builds the filter.
  constexpr int kRuns = 5;
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < kRuns; ++i) ASSERT_FALSE(Segment(*model, frame, Tiling(config)).mask.empty());
  const double ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count() /
      kRuns;
  std::printf("fourier-bandpass: %.1f ms per 512x512 frame\n", ms);
}

#ifdef FRINGE_HAVE_SIM
// A simulated high-dose image of a 5 nm Au particle down [110] (showing {111} fringes) on thin
// carbon, imaged at a defocus that transfers the {111} frequency well.
TEST(FourierBandpassTest, FindsASimulatedOnZoneParticle) {
  sim::SimulatorOptions o;
  o.height = o.width = 512;
  o.overrides.pixel_size_nm = kPixelNm;
  o.overrides.dose_e_per_a2 = 2000;
  o.overrides.carbon_thickness_nm = 3.0;
  o.overrides.cs_um = 0.0;
  // chi = -pi/2 at k = 1 / 0.22 nm, between {111} and {200}: strong phase contrast for both.
  const double lambda_nm = sim::ElectronWavelengthA(o.voltage_kv) / 10;
  const double k = 1 / 0.22;
  o.overrides.defocus_nm = -1.0 / (2.0 * lambda_nm * k * k);
  o.overrides.focal_spread_nm = 3.0;
  o.overrides.mtf50_cycles_per_px = 0.4;
  sim::ParticleParams particle;
  particle.center_x_nm = 5.5;
  particle.center_y_nm = 6.0;
  particle.diameter_nm = 5.0;
  particle.zone_axis = "[110]";
  particle.rotation_deg = 20;
  o.overrides.particles = std::vector<sim::ParticleParams>{particle};
  absl::StatusOr<std::unique_ptr<sim::HrtemSimulator>> simulator = sim::HrtemSimulator::Create(o);
  ASSERT_TRUE(simulator.ok()) << simulator.status();
  const sim::Sample sample = (*simulator)->Generate(7, 0);
  ASSERT_EQ(sample.params.particles.size(), 1u);

  const v1::ModelConfig config = BaselineConfig();
  auto model = MakeModel(config);
  ASSERT_NE(model, nullptr);
  const FrameOutput out = Segment(*model, sample.image, Tiling(config));
  const double dice = Dice(out.mask, sample.mask);
  std::printf("fourier-bandpass on a simulated 5 nm [110] particle: Dice %.3f\n", dice);
  EXPECT_GT(dice, 0.5);
}
#endif

}  // namespace
}  // namespace fringe
