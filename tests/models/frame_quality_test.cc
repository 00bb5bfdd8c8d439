#include "models/frame_quality.h"

#include <gtest/gtest.h>

#include <cmath>
#include <opencv2/imgproc.hpp>
#include <random>

#include "common/frame_stats.h"
#include "models/frame_preparation.h"
#include "models/lattice_band.h"

namespace fringe {
namespace {

constexpr double kPixelNm = 0.0225;

// White noise with a disk of Au {111} fringes (0.235 nm) of the given amplitude, standardised.
cv::Mat FrameWithParticle(cv::Point center, int radius, double amplitude, unsigned seed = 1) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> noise(0, 1);
  cv::Mat frame(256, 256, CV_32F);
  const double k = 2 * CV_PI * kPixelNm / 0.235;  // radians per pixel
  for (int r = 0; r < frame.rows; ++r) {
    for (int c = 0; c < frame.cols; ++c) {
      float v = noise(rng);
      if (std::hypot(c - center.x, r - center.y) < radius) {
        v += static_cast<float>(amplitude * std::cos(k * (0.8 * c + 0.6 * r)));
      }
      frame.at<float>(r, c) = v;
    }
  }
  return Standardise(frame, ComputeFrameStats(frame));
}

cv::Mat Disk(cv::Point center, int radius) {
  cv::Mat mask = cv::Mat::zeros(256, 256, CV_8U);
  cv::circle(mask, center, radius, cv::Scalar(1), cv::FILLED);
  return mask;
}

std::vector<cv::Mat> ConfidentProbabilities(const cv::Mat& mask) {
  cv::Mat p;
  mask.convertTo(p, CV_32F);
  p = p * 0.98 + 0.01;
  return {1.0 - p, p};
}

TEST(LatticeBandTest, EnergyIsHighWhereFringesAre) {
  const cv::Mat frame = FrameWithParticle({128, 128}, 40, 1.5);
  LatticeBandOptions options;
  options.pixel_size_nm = kPixelNm;
  auto band = LatticeBand::Create(options);
  ASSERT_TRUE(band.ok()) << band.status();
  const cv::Mat energy = (*band)->Energy(frame);
  ASSERT_EQ(energy.size(), frame.size());
  EXPECT_GT(energy.at<float>(128, 128), 5 * energy.at<float>(20, 20));
}

TEST(LatticeBandTest, RejectsUnresolvableSpacingsNamingThem) {
  LatticeBandOptions options;
  options.pixel_size_nm = 0.2;  // Nyquist 0.4 nm: 0.235 nm fringes cannot be seen.
  auto band = LatticeBand::Create(options);
  ASSERT_FALSE(band.ok());
  EXPECT_NE(band.status().message().find("0.235"), std::string::npos);
  options.pixel_size_nm = 0;
  EXPECT_FALSE(LatticeBand::Create(options).ok());
}

TEST(FrameQualityTest, AParticleWithFringesPassesTheLatticeCheck) {
  const cv::Mat mask = Disk({128, 128}, 40);
  const FrameQuality q = AssessFrame(FrameWithParticle({128, 128}, 40, 1.0),
                                     ConfidentProbabilities(mask), mask, kPixelNm, ScalePlan{});
  EXPECT_NEAR(q.particle_fraction, cv::countNonZero(mask) / 65536.0, 1e-12);
  EXPECT_TRUE(q.lattice_checked);
  EXPECT_GT(q.lattice_contrast, 2.0);
  EXPECT_FALSE(q.out_of_domain) << (q.reasons.empty() ? "" : q.reasons[0]);
}

std::vector<cv::Mat> UnsureProbabilities(const cv::Mat& mask) {
  cv::Mat p;
  mask.convertTo(p, CV_32F);
  p = p * 0.92 + 0.04;  // 0.24 bits per pixel: unsure, but below the entropy threshold alone.
  return {1.0 - p, p};
}

TEST(FrameQualityTest, CarbonMistakenForGoldIsFlaggedWhenTheModelIsUnsure) {
  // The mask covers plain noise; the fringes are elsewhere.
  const cv::Mat mask = Disk({60, 60}, 35);
  const cv::Mat frame = FrameWithParticle({190, 190}, 30, 1.0);
  FrameQuality q = AssessFrame(frame, UnsureProbabilities(mask), mask, kPixelNm, ScalePlan{});
  EXPECT_TRUE(q.lattice_checked);
  EXPECT_LT(q.lattice_contrast, 1.0);
  EXPECT_TRUE(q.out_of_domain);
  ASSERT_EQ(q.reasons.size(), 1u);
  EXPECT_NE(q.reasons[0].find("no lattice fringes"), std::string::npos);
  // A confident model with fringe-free particles (gold off a zone axis looks like this) is
  // reported but not flagged.
  q = AssessFrame(frame, ConfidentProbabilities(mask), mask, kPixelNm, ScalePlan{});
  EXPECT_TRUE(q.lattice_checked);
  EXPECT_LT(q.lattice_contrast, 1.0);
  EXPECT_FALSE(q.out_of_domain);
}

TEST(FrameQualityTest, HalfTheFrameAsParticleAndUncertaintyAreFlagged) {
  cv::Mat mask = cv::Mat::zeros(256, 256, CV_8U);
  mask(cv::Rect(0, 0, 256, 180)).setTo(1);
  const cv::Mat flat = cv::Mat::zeros(256, 256, CV_32F);
  // Without a pixel size there is no lattice check; the fraction alone trips.
  FrameQuality q = AssessFrame(flat, ConfidentProbabilities(mask), mask, 0, ScalePlan{});
  EXPECT_FALSE(q.lattice_checked);
  EXPECT_TRUE(q.out_of_domain);
  ASSERT_EQ(q.reasons.size(), 1u);
  EXPECT_NE(q.reasons[0].find("predicted as particle"), std::string::npos);
  // p = 0.5 everywhere: one bit of entropy per pixel.
  const cv::Mat half(256, 256, CV_32F, cv::Scalar(0.5));
  q = AssessFrame(flat, {half, half}, cv::Mat::zeros(256, 256, CV_8U), 0, ScalePlan{});
  EXPECT_NEAR(q.mean_entropy_bits, 1.0, 1e-6);
  EXPECT_TRUE(q.out_of_domain);
}

TEST(FrameQualityTest, AnOutOfRangePixelSizeIsAReason) {
  const ScalePlan plan = PlanScale({256, 256}, {5.0, 5.0}, kPixelNm);
  const cv::Mat mask = cv::Mat::zeros(256, 256, CV_8U);
  const FrameQuality q =
      AssessFrame(cv::Mat::zeros(256, 256, CV_32F), ConfidentProbabilities(mask), mask, 5.0, plan);
  EXPECT_TRUE(q.out_of_domain);
  ASSERT_FALSE(q.reasons.empty());
  EXPECT_EQ(q.reasons[0], plan.warning);
}

TEST(FramePreparationTest, RemovesSpikesThenResamples) {
  cv::Mat frame(100, 100, CV_32F, cv::Scalar(100));
  cv::randu(frame, 90, 110);
  frame.at<float>(50, 50) = 1e6f;
  v1::Image image;
  image.set_pixel_size_nm(0.045);
  const PreparedFrame p = PrepareFrame(frame, PixelSizeOf(image), kPixelNm);
  EXPECT_EQ(p.spikes_removed, 1);
  EXPECT_EQ(p.scale.decision, ScaleDecision::kResampled);
  EXPECT_EQ(p.frame.size(), cv::Size(200, 200));
  EXPECT_DOUBLE_EQ(p.pixel_size_nm, kPixelNm);
  double hi;
  cv::minMaxLoc(p.frame, nullptr, &hi);
  EXPECT_LT(hi, 200);
  EXPECT_TRUE(p.warnings.empty());
  EXPECT_EQ(frame.at<float>(50, 50), 1e6f);  // The input is not modified.
}

TEST(FramePreparationTest, PixelSizeOfReadsBothAxesAndIgnoresNonsense) {
  v1::Image image;
  EXPECT_FALSE(PixelSizeOf(image).known());
  image.set_pixel_size_nm(0.03);
  EXPECT_DOUBLE_EQ(PixelSizeOf(image).y_nm, 0.03);
  image.set_pixel_size_y_nm(0.06);
  EXPECT_DOUBLE_EQ(PixelSizeOf(image).y_nm, 0.06);
  image.set_pixel_size_y_nm(-1);
  EXPECT_FALSE(PixelSizeOf(image).known());
  image.set_pixel_size_y_nm(0);
  image.set_pixel_size_nm(std::nan(""));
  EXPECT_FALSE(PixelSizeOf(image).known());
  const PreparedFrame p =
      PrepareFrame(cv::Mat(8, 8, CV_32F, cv::Scalar(1)), PixelSizeOf(image), kPixelNm);
  EXPECT_EQ(p.scale.decision, ScaleDecision::kUnknownPixelSize);
  ASSERT_EQ(p.warnings.size(), 1u);
}

}  // namespace
}  // namespace fringe
