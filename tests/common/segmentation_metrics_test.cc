#include "common/segmentation_metrics.h"

#include <gtest/gtest.h>

namespace fringe {
namespace {

TEST(SegmentationMetricsTest, CountsAndRatios) {
  cv::Mat truth = cv::Mat::zeros(10, 10, CV_8U), predicted = cv::Mat::zeros(10, 10, CV_8U);
  truth(cv::Rect(0, 0, 4, 5)).setTo(1);        // 20 px
  predicted(cv::Rect(2, 0, 4, 5)).setTo(255);  // 20 px, 10 overlap
  const ConfusionCounts c = CountConfusion(predicted, truth);
  EXPECT_EQ(c.true_positive, 10);
  EXPECT_EQ(c.false_positive, 10);
  EXPECT_EQ(c.false_negative, 10);
  EXPECT_EQ(c.true_negative, 70);
  const SegmentationMetrics m = ComputeMetrics(c);
  EXPECT_DOUBLE_EQ(m.dice, 0.5);
  EXPECT_DOUBLE_EQ(m.iou, 10.0 / 30.0);
  EXPECT_DOUBLE_EQ(m.precision, 0.5);
  EXPECT_DOUBLE_EQ(m.recall, 0.5);
  EXPECT_DOUBLE_EQ(m.f1, m.dice);
  EXPECT_DOUBLE_EQ(m.accuracy, 0.8);
}

TEST(SegmentationMetricsTest, EmptyMasksAgreePerfectly) {
  const cv::Mat empty = cv::Mat::zeros(4, 4, CV_8U);
  const SegmentationMetrics m = ComputeMetrics(CountConfusion(empty, empty));
  EXPECT_EQ(m.dice, 1.0);
  EXPECT_EQ(m.iou, 1.0);
}

TEST(SegmentationMetricsTest, MissingEverythingScoresZero) {
  cv::Mat truth = cv::Mat::ones(4, 4, CV_8U);
  const SegmentationMetrics m = ComputeMetrics(CountConfusion(cv::Mat::zeros(4, 4, CV_8U), truth));
  EXPECT_EQ(m.dice, 0.0);
  EXPECT_EQ(m.recall, 0.0);
  EXPECT_EQ(m.precision, 0.0) << "predicting nothing where particles are is not precise";
  const SegmentationMetrics phantom =
      ComputeMetrics(CountConfusion(truth, cv::Mat::zeros(4, 4, CV_8U)));
  EXPECT_EQ(phantom.precision, 0.0);
  EXPECT_EQ(phantom.recall, 0.0);
  EXPECT_THROW(CountConfusion(truth, cv::Mat::zeros(3, 3, CV_8U)), std::invalid_argument);
}

}  // namespace
}  // namespace fringe
