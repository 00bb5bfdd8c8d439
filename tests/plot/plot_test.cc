// The plotting helper: tick choice and what lands where in a line plot.
#include "plot/plot.h"

#include <gtest/gtest.h>

namespace fringe::plot {
namespace {

TEST(PlotTest, NiceTicks) {
  EXPECT_EQ(NiceTicks(0, 1, 5), (std::vector<double>{0, 0.2, 0.4, 0.6, 0.8, 1.0}));
  const std::vector<double> t = NiceTicks(-3, 17, 4);  // Step 5.
  EXPECT_EQ(t, (std::vector<double>{0, 5, 10, 15}));
  EXPECT_EQ(NiceTicks(2, 2, 5), (std::vector<double>{2}));
}

TEST(PlotTest, DivergingColours) {
  EXPECT_EQ(DivergingColor(0), cv::Vec3b(255, 255, 255));
  EXPECT_EQ(DivergingColor(1), cv::Vec3b(0, 0, 255));   // Red (BGR).
  EXPECT_EQ(DivergingColor(-5), cv::Vec3b(255, 0, 0));  // Clamped blue.
}

TEST(PlotTest, LinePlotDrawsSeriesInTheirColours) {
  PlotSeries a;
  a.label = "rising";
  a.x = {0, 1};
  a.y = {0, 1};
  a.color = cv::Scalar(0, 0, 255);
  a.thickness = 3;
  PlotSeries b;
  b.x = {0, 1};
  b.y = {1, 0};
  b.color = cv::Scalar(255, 0, 0);
  b.thickness = 3;
  LinePlotOptions options;
  options.x_range = std::make_pair(0.0, 1.0);
  options.y_range = std::make_pair(0.0, 1.0);
  options.legend = LinePlotOptions::Legend::kNone;
  const cv::Mat img = RenderLinePlot({a, b}, options);
  ASSERT_EQ(img.size(), cv::Size(820, 520));
  // Plot frame: left 78, top 58, right 24, bottom 64. A point a quarter of the way along each
  // diagonal must carry its line's colour.
  const cv::Rect frame(78, 58, 820 - 78 - 24, 520 - 58 - 64);
  auto at = [&](double x, double y) {
    return img.at<cv::Vec3b>(static_cast<int>(frame.y + (1 - y) * (frame.height - 1)),
                             static_cast<int>(frame.x + x * (frame.width - 1)));
  };
  const cv::Vec3b on_a = at(0.25, 0.25), on_b = at(0.25, 0.75);
  EXPECT_GT(on_a[2], 200);
  EXPECT_LT(on_a[0], 80);
  EXPECT_GT(on_b[0], 200);
  EXPECT_LT(on_b[2], 80);
  // Empty plots and non-finite points do not crash.
  PlotSeries bad;
  bad.x = {0, 1, 2};
  bad.y = {1, std::nan(""), 3};
  EXPECT_EQ(RenderLinePlot({bad}, LinePlotOptions()).type(), CV_8UC3);
  LinePlotOptions log;
  log.log_y = true;
  EXPECT_EQ(RenderLinePlot({}, log).type(), CV_8UC3);
}

TEST(PlotTest, PanelsConcatenate) {
  const cv::Mat a(10, 20, CV_8UC3, cv::Scalar(0, 0, 0)), b(30, 5, CV_8U, cv::Scalar(9));
  EXPECT_EQ(HorizontalConcat({a, b}, 4).size(), cv::Size(29, 30));
  EXPECT_EQ(VerticalConcat({a, b}, 4).size(), cv::Size(20, 44));
  const cv::Mat p = CaptionedPanel(a, "x", 26);
  EXPECT_EQ(p.rows, 36);
}

}  // namespace
}  // namespace fringe::plot
