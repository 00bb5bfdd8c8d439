// The blur sweep on a toy segmenter that, like the networks Horwath et al. studied, finds
// particles by their lattice fringes: blurring the fringes away must make it fail, monotonically.
#include "analysis/blur_sweep.h"

#include <gtest/gtest.h>

#include <cmath>
#include <opencv2/imgproc.hpp>

namespace fringe::analysis {
namespace {

constexpr double kPi = 3.14159265358979323846;

// A flat frame with a disc of fringes (period 6 px) and its true mask.
std::pair<cv::Mat, cv::Mat> FringedDisc() {
  cv::Mat frame(96, 96, CV_32F, cv::Scalar(10.0f));
  cv::Mat truth = cv::Mat::zeros(96, 96, CV_8U);
  cv::circle(truth, {48, 48}, 24, cv::Scalar(1), cv::FILLED);
  for (int y = 0; y < 96; ++y) {
    for (int x = 0; x < 96; ++x) {
      if (truth.at<uchar>(y, x)) {
        frame.at<float>(y, x) += static_cast<float>(std::cos(2 * kPi * (x + 0.5 * y) / 6.0));
      }
    }
  }
  return {frame, truth};
}

// Particle where the local high-frequency energy (frame minus its blur, squared, smoothed) is
// above a fixed threshold.
absl::StatusOr<cv::Mat> FringeDetector(const cv::Mat& frame) {
  cv::Mat smooth, detail, energy;
  cv::GaussianBlur(frame, smooth, cv::Size(0, 0), 3);
  detail = frame - smooth;
  cv::GaussianBlur(detail.mul(detail), energy, cv::Size(0, 0), 3);
  return cv::Mat(energy > 0.25);  // Half the energy of unit fringes: the contour sits on the edge.
}

TEST(BlurSweepTest, FringeDetectorDegradesMonotonically) {
  const auto [frame, truth] = FringedDisc();
  const std::vector<double> sigmas = {0, 0.5, 1, 1.5, 2, 3};
  auto result = RunBlurSweepOnFrame(frame, truth, sigmas, FringeDetector);
  ASSERT_TRUE(result.ok()) << result.status();
  ASSERT_EQ(result->counts.size(), sigmas.size());
  result->stem = "disc";
  const std::vector<BlurSweepPoint> points = SummarizeBlurSweep({*result, *result}, sigmas);
  ASSERT_EQ(points.size(), sigmas.size());
  EXPECT_GT(points.front().mean_dice, 0.85);
  EXPECT_LT(points.back().mean_dice, 0.05);
  for (size_t i = 1; i < points.size(); ++i) {
    EXPECT_LE(points[i].mean_dice, points[i - 1].mean_dice + 1e-12) << "sigma " << sigmas[i];
  }
  EXPECT_EQ(points[0].frames, 2);
  EXPECT_NEAR(points[0].std_dice, 0.0, 1e-12);  // Two identical frames.
  EXPECT_NEAR(points[0].pooled_dice, points[0].mean_dice, 1e-12);

  const std::string csv = FormatBlurSweepCsv({*result}, sigmas);
  EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), static_cast<long>(sigmas.size() + 1));
  EXPECT_EQ(csv.substr(0, csv.find('\n')),
            "stem,dose,sigma_px,dice,iou,precision,recall,predicted_fraction");
  const std::string json = FormatBlurSweepJson(points, {*result}, "toy", 0.02);
  EXPECT_NE(json.find("\"gain_au111\""), std::string::npos);
  const cv::Mat plot = RenderBlurSweepPlot(points, 0.02, "toy");
  EXPECT_EQ(plot.type(), CV_8UC3);
}

TEST(BlurSweepTest, GainAndBlurBasics) {
  EXPECT_DOUBLE_EQ(GaussianGain(0, 0.3), 1.0);
  // sigma 2 px at 0.1 c/px: exp(-2 pi^2 * 4 * 0.01) = exp(-0.7896).
  EXPECT_NEAR(GaussianGain(2, 0.1), std::exp(-0.08 * kPi * kPi), 1e-12);
  cv::Mat u8(8, 8, CV_8U, cv::Scalar(7));
  const cv::Mat same = BlurFrame(u8, 0);
  EXPECT_EQ(same.type(), CV_32F);
  EXPECT_FLOAT_EQ(same.at<float>(3, 3), 7.0f);
  const cv::Mat blurred = BlurFrame(u8, 2);
  EXPECT_NEAR(blurred.at<float>(0, 0), 7.0f, 1e-4);  // Reflecting borders keep a flat frame flat.
  const cv::Mat wrong = cv::Mat::zeros(4, 4, CV_8U);
  EXPECT_EQ(RunBlurSweepOnFrame(u8, wrong, {0}, FringeDetector).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace fringe::analysis
