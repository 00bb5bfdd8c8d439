// Filter grids and filter spectra on filters whose frequency response is known.
#include "analysis/filter_grid.h"

#include <gtest/gtest.h>

#include <cmath>

namespace fringe::analysis {
namespace {

cv::Mat Filter(std::initializer_list<float> values, int side) {
  return cv::Mat(std::vector<float>(values), true).reshape(1, side);
}

TEST(FilterGridTest, LayoutAndImageShape) {
  FilterGridOptions options;
  options.cell = 40;
  options.columns = 3;
  // 7 filters in rows of 3: 3 rows. Slot = weights + gap/2 + spectrum = 40 + 6 + 40 = 86.
  const FilterGridLayout layout = ComputeFilterGridLayout(7, options);
  EXPECT_EQ(layout.rows, 3);
  EXPECT_EQ(layout.cell_width, 86);
  EXPECT_EQ(layout.size.width, 12 + 3 * (86 + 12));
  EXPECT_EQ(layout.size.height, 34 + 3 * (20 + 40 + 12));
  // Fewer filters than columns: the grid is only as wide as they need.
  EXPECT_EQ(ComputeFilterGridLayout(2, options).size.width, 12 + 2 * (86 + 12));

  std::vector<cv::Mat> filters;
  for (int i = 0; i < 7; ++i) filters.push_back(cv::Mat::zeros(3, 3, CV_32F));
  filters[4].at<float>(1, 1) = 1.0f;   // Filter 4: a positive centre tap.
  filters[5].at<float>(0, 0) = -1.0f;  // Filter 5: a negative corner.
  const cv::Mat grid = RenderFilterGrid(filters, options);
  EXPECT_EQ(grid.size(), layout.size);
  EXPECT_EQ(grid.type(), CV_8UC3);
  // Weights are drawn in diverging colours: filter 4's centre red, filter 5's corner blue.
  const cv::Rect w4 = layout.WeightsRect(4, options), w5 = layout.WeightsRect(5, options);
  EXPECT_EQ(w4.y, w5.y);
  EXPECT_EQ(w4, cv::Rect(12 + 1 * (86 + 12), 34 + 1 * (72) + 20, 40, 40));
  const cv::Vec3b centre = grid.at<cv::Vec3b>(w4.y + 20, w4.x + 20);
  EXPECT_GT(centre[2], 200);
  EXPECT_LT(centre[0], 60);
  const cv::Vec3b corner = grid.at<cv::Vec3b>(w5.y + 5, w5.x + 5);
  EXPECT_GT(corner[0], 200);
  EXPECT_LT(corner[2], 60);
  // The spectrum sits right of the weights.
  EXPECT_EQ(layout.SpectrumRect(4, options).x, w4.x + 46);
}

TEST(FilterGridTest, SpectrumOfAnImpulseIsFlatAndOfABoxIsLowPass) {
  cv::Mat impulse = cv::Mat::zeros(3, 3, CV_32F);
  impulse.at<float>(1, 1) = 2.0f;
  const cv::Mat flat = FilterAmplitudeSpectrum(impulse, 16);
  ASSERT_EQ(flat.size(), cv::Size(16, 16));
  double lo = 0, hi = 0;
  cv::minMaxLoc(flat, &lo, &hi);
  EXPECT_NEAR(lo, 2.0, 1e-5);
  EXPECT_NEAR(hi, 2.0, 1e-5);

  const cv::Mat box = cv::Mat::ones(3, 3, CV_32F);
  const cv::Mat s = FilterAmplitudeSpectrum(box, 16);
  EXPECT_NEAR(s.at<float>(8, 8), 9.0, 1e-5);  // DC (centre) = sum of the weights.
  const std::vector<FilterSummary> summary = SummarizeFilters({box}, 16, 0);
  EXPECT_EQ(summary[0].kind, "low-pass");
  EXPECT_NEAR(summary[0].dc_gain, 9.0, 1e-9);
  EXPECT_NEAR(summary[0].l2_norm, 3.0, 1e-9);
}

TEST(FilterGridTest, OrientedAndHighPassFiltersAreRecognised) {
  // Columns -1 0 1: a horizontal derivative; its response varies along x (0 degrees).
  const cv::Mat dx = Filter({-1, 0, 1, -1, 0, 1, -1, 0, 1}, 3);
  // The transpose varies along y (90 degrees).
  const cv::Mat dy = dx.t();
  // A checkerboard: strongest at the corner of the spectrum (0.5, 0.5) cycles/px.
  const cv::Mat checker = Filter({1, -1, 1, -1, 1, -1, 1, -1, 1}, 3);
  const std::vector<FilterSummary> s = SummarizeFilters({dx, dy, checker}, 32, 0.02);
  EXPECT_EQ(s[0].kind, "band-pass");
  EXPECT_NEAR(s[0].peak_orientation_deg, 0.0, 1e-6);
  EXPECT_NEAR(s[0].dc_gain, 0.0, 1e-9);
  // |sin(2 pi f)| is largest at f = 0.25 c/px.
  EXPECT_NEAR(s[0].peak_frequency, 0.25, 1.0 / 32);
  EXPECT_NEAR(s[1].peak_orientation_deg, 90.0, 1e-6);
  EXPECT_EQ(s[2].kind, "high-pass");
  EXPECT_NEAR(s[2].peak_frequency, std::sqrt(0.5), 1e-6);
  EXPECT_NEAR(s[2].peak_orientation_deg, 45.0, 1e-6);
  // At 0.02 nm/px the Au band is ~0.085-0.108 c/px; the derivative puts some energy there,
  // the checkerboard almost none.
  EXPECT_GT(s[0].au_band_energy_fraction, s[2].au_band_energy_fraction);
  EXPECT_GT(s[0].au_band_energy_fraction, 0.0);

  const std::string csv = FormatFilterWeightsCsv({dx});
  EXPECT_EQ(csv.substr(0, csv.find('\n')), "filter,row,col,weight");
  EXPECT_NE(csv.find("\n0,0,0,-1\n"), std::string::npos);
  EXPECT_NE(csv.find("\n0,2,2,1\n"), std::string::npos);
}

}  // namespace
}  // namespace fringe::analysis
