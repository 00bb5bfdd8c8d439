#include "common/spike_filter.h"

#include <gtest/gtest.h>

#include <random>

namespace fringe {
namespace {

cv::Mat PoissonFrame(int size, double mean, unsigned seed) {
  std::mt19937 rng(seed);
  std::poisson_distribution<int> poisson(mean);
  cv::Mat frame(size, size, CV_32F);
  for (int r = 0; r < size; ++r)
    for (int c = 0; c < size; ++c) frame.at<float>(r, c) = static_cast<float>(poisson(rng));
  return frame;
}

TEST(SpikeFilterTest, ShotNoiseAloneIsNeverTouched) {
  // From very low dose (half an electron per pixel) to a high-dose frame.
  for (double mean : {0.5, 2.0, 30.0, 2000.0}) {
    cv::Mat frame = PoissonFrame(256, mean, 7);
    const cv::Mat before = frame.clone();
    EXPECT_EQ(RemoveSpikes(&frame), 0) << "mean " << mean;
    EXPECT_EQ(cv::norm(frame, before, cv::NORM_INF), 0) << "mean " << mean;
  }
}

TEST(SpikeFilterTest, RemovesEveryIsolatedSpikeAndRestoresTheStatistics) {
  cv::Mat frame = PoissonFrame(256, 100.0, 3);
  const cv::Mat clean = frame.clone();
  const cv::Point spikes[] = {{10, 10}, {200, 37}, {128, 128}, {3, 250}, {255, 0}};
  for (const cv::Point& p : spikes) frame.at<float>(p) = 50000.f;  // X-ray hits.
  frame.at<float>(60, 60) = 0.f;  // A dead pixel in a bright frame.
  EXPECT_EQ(RemoveSpikes(&frame), 6);
  for (const cv::Point& p : spikes) EXPECT_LT(frame.at<float>(p), 200.f);
  EXPECT_GT(frame.at<float>(60, 60), 50.f);
  cv::Scalar m0, s0, m1, s1;
  cv::meanStdDev(clean, m0, s0);
  cv::meanStdDev(frame, m1, s1);
  EXPECT_NEAR(s1[0], s0[0], 0.02 * s0[0]);
}

TEST(SpikeFilterTest, LatticeFringesSurvive) {
  // 0.235 nm fringes at 0.0225 nm/px: a period of ~10 pixels, far from a one-pixel spike.
  cv::Mat frame(128, 128, CV_32F);
  for (int r = 0; r < 128; ++r)
    for (int c = 0; c < 128; ++c)
      frame.at<float>(r, c) = 1000.f + 300.f * static_cast<float>(std::cos(2 * CV_PI * c / 10.4));
  const cv::Mat before = frame.clone();
  EXPECT_EQ(RemoveSpikes(&frame), 0);
  EXPECT_EQ(cv::norm(frame, before, cv::NORM_INF), 0);
}

TEST(SpikeFilterTest, LeavesTinyConstantAndWrongTypedFramesAlone) {
  cv::Mat tiny(2, 2, CV_32F, cv::Scalar(5));
  EXPECT_EQ(RemoveSpikes(&tiny), 0);
  cv::Mat flat(32, 32, CV_32F, cv::Scalar(5));
  EXPECT_EQ(RemoveSpikes(&flat), 0);
  cv::Mat u16(32, 32, CV_16U, cv::Scalar(5));
  EXPECT_EQ(RemoveSpikes(&u16), 0);
  EXPECT_EQ(RemoveSpikes(nullptr), 0);
}

}  // namespace
}  // namespace fringe
