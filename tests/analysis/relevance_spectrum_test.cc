// Radial spectra of maps whose frequency content is known.
#include "analysis/relevance_spectrum.h"

#include <gtest/gtest.h>

#include <cmath>
#include <opencv2/imgcodecs.hpp>

namespace fringe::analysis {
namespace {

constexpr double kPi = 3.14159265358979323846;

// cos(2 pi f (x cos a + y sin a)): fringes of frequency f cycles/px at angle a.
cv::Mat Fringes(int rows, int cols, double f, double angle_deg) {
  cv::Mat m(rows, cols, CV_32F);
  const double a = angle_deg * kPi / 180;
  for (int y = 0; y < rows; ++y) {
    for (int x = 0; x < cols; ++x) {
      m.at<float>(y, x) =
          static_cast<float>(std::cos(2 * kPi * f * (x * std::cos(a) + y * std::sin(a))));
    }
  }
  return m;
}

int PeakRing(const RadialSpectrum& s) {
  return static_cast<int>(std::max_element(s.amplitude.begin(), s.amplitude.end()) -
                          s.amplitude.begin());
}

TEST(RadialSpectrumTest, SinusoidPeaksAtItsFrequencyAtAnyAngle) {
  for (const double angle : {0.0, 30.0, 90.0}) {
    const RadialSpectrum s = ComputeRadialSpectrum(Fringes(128, 128, 0.1, angle), {});
    EXPECT_EQ(s.unit, "cycles/px");
    ASSERT_EQ(s.frequency.size(), 64u);  // Rings of 1/128 up to Nyquist.
    const int peak = PeakRing(s);
    EXPECT_NEAR(s.frequency[peak], 0.1, 1.0 / 128) << angle;
    // Far from the peak there is (almost) nothing: the Hann window keeps leakage local.
    EXPECT_LT(s.amplitude[static_cast<int>(0.3 * 128)], 1e-3 * s.amplitude[peak]) << angle;
  }
}

TEST(RadialSpectrumTest, NonSquareMapsUseEachAxissFrequencies) {
  // Period 8 px along x on a 64-high, 128-wide map: 0.125 c/px in both cases.
  const RadialSpectrum wide = ComputeRadialSpectrum(Fringes(64, 128, 0.125, 0), {});
  const RadialSpectrum tall = ComputeRadialSpectrum(Fringes(128, 64, 0.125, 90), {});
  EXPECT_NEAR(wide.frequency[PeakRing(wide)], 0.125, 1.0 / 64);
  EXPECT_NEAR(tall.frequency[PeakRing(tall)], 0.125, 1.0 / 64);
}

TEST(RadialSpectrumTest, PhysicalUnitsPlaceAuFringes) {
  // Au {111} fringes (0.235 nm) at 0.0235 nm/px have a period of 10 px.
  const double pixel = 0.0235;
  RadialSpectrumOptions options;
  options.pixel_size_nm = pixel;
  const cv::Mat fringes = Fringes(256, 256, 0.1, 20);
  const RadialSpectrum s = ComputeRadialSpectrum(fringes, options);
  EXPECT_EQ(s.unit, "1/nm");
  EXPECT_NEAR(s.bin_width, 1.0 / (256 * pixel), 1e-9);
  EXPECT_NEAR(s.frequency.back() + s.bin_width / 2, 0.5 / pixel, 1e-6);  // Nyquist.
  EXPECT_NEAR(s.frequency[PeakRing(s)], 1.0 / kAu111SpacingNm, s.bin_width);
  const SpectrumSummary summary = SummarizeSpectrum(s, pixel, 1.0);
  EXPECT_NEAR(summary.f111, 1 / 0.235, 1e-9);
  EXPECT_NEAR(summary.f200, 1 / 0.204, 1e-9);
  EXPECT_NEAR(summary.peak_frequency, summary.f111, s.bin_width);
  EXPECT_GT(summary.au_band_contrast, 20.0);

  // White noise has no Au peak: contrast near 1. Fringes at 0.5 nm are off the band: their
  // leakage falls off with distance, so the nearer flank beats the band (< 1).
  cv::Mat noise(256, 256, CV_32F);
  cv::randn(noise, 0, 1);
  const SpectrumSummary flat = SummarizeSpectrum(ComputeRadialSpectrum(noise, options), pixel, 1.0);
  EXPECT_GT(flat.au_band_contrast, 0.8);
  EXPECT_LT(flat.au_band_contrast, 1.25);
  const SpectrumSummary off = SummarizeSpectrum(
      ComputeRadialSpectrum(Fringes(256, 256, pixel / 0.5, 0), options), pixel, 1.0);
  EXPECT_LT(off.au_band_contrast, 1.0);
  EXPECT_NEAR(off.peak_frequency, 2.0, s.bin_width);
}

TEST(RadialSpectrumTest, NormaliseAverageAndStd) {
  RadialSpectrumOptions options;
  const RadialSpectrum a = ComputeRadialSpectrum(Fringes(64, 64, 0.1, 0), options);
  RadialSpectrum b = ComputeRadialSpectrum(3.0 * Fringes(64, 64, 0.1, 0), options);
  RadialSpectrum na = a;
  NormaliseSpectrum(&na);
  NormaliseSpectrum(&b);  // Scale gone: b equals a normalised.
  for (size_t i = 0; i < a.amplitude.size(); ++i)
    EXPECT_NEAR(na.amplitude[i], b.amplitude[i], 1e-6);
  double mean = 0;
  for (size_t i = 1; i < na.amplitude.size(); ++i)
    mean += na.amplitude[i] / (na.amplitude.size() - 1);
  EXPECT_NEAR(mean, 1.0, 1e-9);

  RadialSpectrum c = na;
  for (double& v : c.amplitude) v *= 3;
  const RadialSpectrum avg = AverageSpectra({na, c});
  const std::vector<double> sd = SpectraStd({na, c}, avg);
  for (size_t i = 0; i < avg.amplitude.size(); ++i) {
    EXPECT_NEAR(avg.amplitude[i], 2 * na.amplitude[i], 1e-9);
    EXPECT_NEAR(sd[i], std::sqrt(2.0) * na.amplitude[i], 1e-9);  // |a - 3a| / sqrt(2).
  }
}

TEST(RadialSpectrumTest, PlotAndCsv) {
  RadialSpectrumOptions options;
  options.pixel_size_nm = 0.02;
  const RadialSpectrum s = ComputeRadialSpectrum(Fringes(64, 64, 0.1, 0), options);
  const cv::Mat plot = RenderSpectrumPlot({{"relevance", s, {}}}, 0.02, "test");
  EXPECT_EQ(plot.type(), CV_8UC3);
  EXPECT_EQ(plot.size(), cv::Size(820, 520));
  const std::string csv = FormatSpectrumCsv({{"a,b", s, {}}, {"c", s, {}}});
  EXPECT_EQ(csv.substr(0, csv.find('\n')), "frequency_per_nm,\"a,b\",c");
  EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), static_cast<long>(s.frequency.size() + 1));
}

}  // namespace
}  // namespace fringe::analysis
