#include "common/pixel_scale.h"

#include <gtest/gtest.h>

#include <cmath>
#include <opencv2/imgproc.hpp>

namespace fringe {
namespace {

TEST(PlanScaleTest, ResamplesKnownPixelSizesToTheModelsScale) {
  // 0.045 nm/px frames hold twice the field per pixel of a 0.0225 model: enlarged 2x.
  const ScalePlan up = PlanScale({300, 200}, {0.045, 0.045}, 0.0225);
  EXPECT_EQ(up.decision, ScaleDecision::kResampled);
  EXPECT_EQ(up.model_size, cv::Size(600, 400));
  EXPECT_DOUBLE_EQ(up.factor_x, 2.0);
  EXPECT_TRUE(up.warning.empty());
  const ScalePlan down = PlanScale({512, 512}, {0.01125, 0.01125}, 0.0225);
  EXPECT_EQ(down.decision, ScaleDecision::kResampled);
  EXPECT_EQ(down.model_size, cv::Size(256, 256));
}

TEST(PlanScaleTest, NonSquarePixelsScaleEachAxisOnItsOwn) {
  const ScalePlan plan = PlanScale({100, 100}, {0.045, 0.01125}, 0.0225);
  EXPECT_EQ(plan.decision, ScaleDecision::kResampled);
  EXPECT_EQ(plan.model_size, cv::Size(200, 50));
}

TEST(PlanScaleTest, NearlyNativeFramesAreNotResampled) {
  const ScalePlan plan = PlanScale({512, 512}, {0.0228, 0.0228}, 0.0225);
  EXPECT_EQ(plan.decision, ScaleDecision::kNative);
  EXPECT_EQ(plan.model_size, cv::Size(512, 512));
  EXPECT_EQ(PlanScale({512, 512}, {0.03, 0.03}, 0.0225).decision, ScaleDecision::kResampled);
}

TEST(PlanScaleTest, UnknownPixelSizeIsServedAsIsWithAWarning) {
  const ScalePlan plan = PlanScale({64, 64}, {}, 0.0225);
  EXPECT_EQ(plan.decision, ScaleDecision::kUnknownPixelSize);
  EXPECT_EQ(plan.model_size, cv::Size(64, 64));
  EXPECT_NE(plan.warning.find("pixel size unknown"), std::string::npos);
  // One known axis is not a pixel size.
  EXPECT_EQ(PlanScale({64, 64}, {0.02, 0}, 0.0225).decision, ScaleDecision::kUnknownPixelSize);
}

TEST(PlanScaleTest, BeyondFourTimesIsOutOfRangeAndServedAsIs) {
  // A 5 nm/px survey image and a 0.004 nm/px frame against a 0.0225 model.
  for (double pixel : {5.0, 0.004}) {
    const ScalePlan plan = PlanScale({64, 64}, {pixel, pixel}, 0.0225);
    EXPECT_EQ(plan.decision, ScaleDecision::kOutOfRange) << pixel;
    EXPECT_EQ(plan.model_size, cv::Size(64, 64));
    EXPECT_NE(plan.warning.find("out of domain"), std::string::npos);
  }
  // Exactly 4x is still resampled.
  EXPECT_EQ(PlanScale({64, 64}, {0.09, 0.09}, 0.0225).decision, ScaleDecision::kResampled);
}

TEST(PlanScaleTest, AModelWithoutPixelSizeNeverResamples) {
  const ScalePlan plan = PlanScale({64, 64}, {0.05, 0.05}, 0.0);
  EXPECT_EQ(plan.decision, ScaleDecision::kNative);
  EXPECT_TRUE(plan.warning.empty());
  EXPECT_EQ(PlanScale({64, 64}, {}, 0.0).decision, ScaleDecision::kNative);
}

TEST(ResampleTest, KeepsTheMeanAndReachesTheSize) {
  cv::Mat image(120, 90, CV_32F);
  cv::randu(image, 10, 20);
  for (cv::Size size : {cv::Size(45, 60), cv::Size(200, 300), cv::Size(180, 40)}) {
    const cv::Mat out = ResampleImage(image, size);
    EXPECT_EQ(out.size(), size);
    EXPECT_NEAR(cv::mean(out)[0], cv::mean(image)[0], 0.1) << size;
  }
}

TEST(ResampleTest, ShrinkingAntiAliases) {
  // A checkerboard at the Nyquist frequency must average out when halved, not alias into a
  // full-contrast pattern as point sampling would.
  cv::Mat board(64, 64, CV_32F);
  for (int r = 0; r < 64; ++r)
    for (int c = 0; c < 64; ++c) board.at<float>(r, c) = ((r + c) % 2) ? 1.f : -1.f;
  const cv::Mat half = ResampleImage(board, {32, 32});
  double lo, hi;
  cv::minMaxLoc(half, &lo, &hi);
  EXPECT_LT(hi - lo, 1e-5);
}

TEST(ResampleTest, RoundTripOfASmoothImageIsClose) {
  cv::Mat image(128, 128, CV_32F);
  for (int r = 0; r < 128; ++r)
    for (int c = 0; c < 128; ++c)
      image.at<float>(r, c) = static_cast<float>(std::sin(r * 0.1) * std::cos(c * 0.07));
  const ScalePlan plan = PlanScale(image.size(), {0.045, 0.045}, 0.0225);
  const cv::Mat back = ToFrameScale(ToModelScale(image, plan), plan);
  ASSERT_EQ(back.size(), image.size());
  EXPECT_LT(cv::norm(back, image, cv::NORM_INF), 0.02);
}

TEST(ResampleTest, MapsStayWithinTheirRange) {
  cv::Mat p(50, 50, CV_32F);
  cv::randu(p, 0, 1);
  double lo, hi;
  cv::minMaxLoc(ResampleMap(p, {173, 173}), &lo, &hi);
  EXPECT_GE(lo, 0.0);
  EXPECT_LE(hi, 1.0);
}

}  // namespace
}  // namespace fringe
