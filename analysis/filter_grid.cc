#include "analysis/filter_grid.h"

#include <algorithm>
#include <cmath>
#include <opencv2/imgproc.hpp>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "analysis/relevance_spectrum.h"
#include "plot/csv.h"
#include "plot/plot.h"

namespace fringe::analysis {
namespace {

constexpr double kPi = 3.14159265358979323846;

FilterGridOptions Clamped(FilterGridOptions o) {
  o.cell = std::max(16, o.cell);
  o.columns = std::max(1, o.columns);
  o.spectrum_size = std::max(4, o.spectrum_size);
  return o;
}

}  // namespace

cv::Rect FilterGridLayout::WeightsRect(int i, const FilterGridOptions& options_in) const {
  const FilterGridOptions o = Clamped(options_in);
  const int row = i / o.columns, col = i % o.columns;
  return cv::Rect(gap + col * (cell_width + gap), header + row * (cell_height + gap) + caption,
                  o.cell, o.cell);
}

cv::Rect FilterGridLayout::SpectrumRect(int i, const FilterGridOptions& options) const {
  cv::Rect r = WeightsRect(i, options);
  r.x += r.width + gap / 2;
  return r;
}

FilterGridLayout ComputeFilterGridLayout(int filters, const FilterGridOptions& options_in) {
  const FilterGridOptions o = Clamped(options_in);
  FilterGridLayout l;
  l.gap = 12;
  l.header = 34;
  l.caption = 20;
  l.cell_width = 2 * o.cell + l.gap / 2;
  l.cell_height = l.caption + o.cell;
  const int columns = std::min(o.columns, std::max(1, filters));
  l.rows = std::max(1, (filters + o.columns - 1) / o.columns);
  l.size = cv::Size(l.gap + columns * (l.cell_width + l.gap),
                    l.header + l.rows * (l.cell_height + l.gap));
  return l;
}

cv::Mat FilterAmplitudeSpectrum(const cv::Mat& filter, int size) {
  cv::Mat f;
  filter.convertTo(f, CV_32F);
  size = std::max({size, f.rows, f.cols});
  cv::Mat padded = cv::Mat::zeros(size, size, CV_32F);
  f.copyTo(padded(cv::Rect(0, 0, f.cols, f.rows)));
  cv::Mat spectrum;
  cv::dft(padded, spectrum, cv::DFT_COMPLEX_OUTPUT);
  std::vector<cv::Mat> parts;
  cv::split(spectrum, parts);
  cv::Mat amplitude;
  cv::magnitude(parts[0], parts[1], amplitude);
  // Shift DC to the centre (the amplitude does not depend on where the filter sits).
  cv::Mat shifted(size, size, CV_32F);
  for (int y = 0; y < size; ++y) {
    for (int x = 0; x < size; ++x) {
      shifted.at<float>((y + size / 2) % size, (x + size / 2) % size) = amplitude.at<float>(y, x);
    }
  }
  return shifted;
}

std::vector<FilterSummary> SummarizeFilters(const std::vector<cv::Mat>& filters, int spectrum_size,
                                            double pixel_size_nm) {
  std::vector<FilterSummary> out;
  const double f111 = pixel_size_nm > 0 ? pixel_size_nm / kAu111SpacingNm : 0;
  const double f200 = pixel_size_nm > 0 ? pixel_size_nm / kAu200SpacingNm : 0;
  for (size_t i = 0; i < filters.size(); ++i) {
    FilterSummary s;
    s.index = static_cast<int>(i);
    s.dc_gain = cv::sum(filters[i])[0];
    s.l2_norm = cv::norm(filters[i], cv::NORM_L2);
    const cv::Mat a = FilterAmplitudeSpectrum(filters[i], spectrum_size);
    const int n = a.rows, c = n / 2;
    double best = -1, total = 0, band = 0, peak_radius = 0;
    for (int y = 0; y < n; ++y) {
      for (int x = 0; x < n; ++x) {
        const double fx = (x - c) / static_cast<double>(n), fy = (y - c) / static_cast<double>(n);
        const double r = std::hypot(fx, fy), v = a.at<float>(y, x);
        total += v * v;
        if (f111 > 0 && r >= 0.9 * f111 && r <= 1.1 * f200) band += v * v;
        // Ties go to the lower frequency, and between mirror images to fx >= 0.
        if (v > best + 1e-12 * std::max(1.0, best) ||
            (std::abs(v - best) <= 1e-12 * std::max(1.0, best) && r < peak_radius - 1e-12)) {
          best = v;
          peak_radius = r;
          s.peak_frequency = r;
          s.peak_orientation_deg = r > 0 ? std::atan2(fy, fx) * 180.0 / kPi : 0.0;
        }
      }
    }
    if (s.peak_orientation_deg < 0) s.peak_orientation_deg += 180.0;  // |F| is symmetric.
    if (s.peak_orientation_deg >= 180.0) s.peak_orientation_deg -= 180.0;
    s.au_band_energy_fraction = total > 0 ? band / total : 0;
    // Nyquist of the padded grid is 0.5 c/px along an axis; corners reach 0.71.
    s.kind = s.peak_frequency < 0.5 / n ? "low-pass"
             : s.peak_frequency >= 0.45 ? "high-pass"
                                        : "band-pass";
    out.push_back(s);
  }
  return out;
}

cv::Mat RenderFilterGrid(const std::vector<cv::Mat>& filters, const FilterGridOptions& options_in) {
  const FilterGridOptions o = Clamped(options_in);
  const FilterGridLayout layout = ComputeFilterGridLayout(static_cast<int>(filters.size()), o);
  cv::Mat img(layout.size, CV_8UC3, cv::Scalar(255, 255, 255));
  const std::string title =
      o.title.empty() ? "first-layer filters: weights | |FFT| (DC centred)" : o.title;
  // Shrink the title to the grid's width rather than cut it off.
  int baseline = 0;
  const int title_width = cv::getTextSize(title, cv::FONT_HERSHEY_SIMPLEX, 0.5, 1, &baseline).width;
  const double title_scale = std::max(
      0.3, std::min(0.5, 0.5 * (layout.size.width - 2 * layout.gap) / std::max(1, title_width)));
  plot::DrawText(img, title, {layout.gap, layout.header / 2}, title_scale, cv::Scalar(0, 0, 0), 0.0,
                 0.5);
  const double f111 = o.pixel_size_nm > 0 ? o.pixel_size_nm / kAu111SpacingNm : 0;
  const double f200 = o.pixel_size_nm > 0 ? o.pixel_size_nm / kAu200SpacingNm : 0;
  for (size_t i = 0; i < filters.size(); ++i) {
    const int idx = static_cast<int>(i);
    cv::Mat w;
    filters[i].convertTo(w, CV_32F);
    double lo = 0, hi = 0;
    cv::minMaxLoc(w, &lo, &hi);
    const double scale = std::max(std::abs(lo), std::abs(hi));
    cv::Mat weights = plot::RenderDivergingMap(w, scale > 0 ? scale : 1.0), big;
    cv::resize(weights, big, cv::Size(o.cell, o.cell), 0, 0, cv::INTER_NEAREST);
    const cv::Rect wr = layout.WeightsRect(idx, o);
    big.copyTo(img(wr));
    cv::rectangle(img, wr, cv::Scalar(150, 150, 150), 1);

    cv::Mat a = FilterAmplitudeSpectrum(filters[i], o.spectrum_size), a8, colored, big_a;
    double amax = 0;
    cv::minMaxLoc(a, nullptr, &amax);
    a.convertTo(a8, CV_8U, amax > 0 ? 255.0 / amax : 0.0);
    cv::applyColorMap(a8, colored, cv::COLORMAP_VIRIDIS);
    cv::resize(colored, big_a, cv::Size(o.cell, o.cell), 0, 0, cv::INTER_NEAREST);
    const cv::Rect sr = layout.SpectrumRect(idx, o);
    big_a.copyTo(img(sr));
    if (f111 > 0) {
      // Radius in display pixels: f cycles/px * N samples per cycle/px * cell / N.
      const cv::Point centre(sr.x + o.cell / 2, sr.y + o.cell / 2);
      const double px_per_cycle = static_cast<double>(o.cell);
      cv::circle(img, centre, static_cast<int>(std::lround(f111 * px_per_cycle)),
                 cv::Scalar(255, 255, 255), 1, cv::LINE_AA);
      cv::circle(img, centre, static_cast<int>(std::lround(f200 * px_per_cycle)),
                 cv::Scalar(200, 200, 200), 1, cv::LINE_AA);
    }
    cv::rectangle(img, sr, cv::Scalar(150, 150, 150), 1);
    plot::DrawText(img, absl::StrFormat("#%d  max|w| %.3g", idx, scale),
                   {wr.x, wr.y - layout.caption / 2}, 0.4, cv::Scalar(0, 0, 0), 0.0, 0.5);
  }
  return img;
}

std::string FormatFilterWeightsCsv(const std::vector<cv::Mat>& filters) {
  std::string out = "filter,row,col,weight\n";
  for (size_t i = 0; i < filters.size(); ++i) {
    cv::Mat w;
    filters[i].convertTo(w, CV_64F);
    for (int y = 0; y < w.rows; ++y) {
      for (int x = 0; x < w.cols; ++x) {
        absl::StrAppend(&out, i, ",", y, ",", x, ",", absl::StrFormat("%.8g", w.at<double>(y, x)),
                        "\n");
      }
    }
  }
  return out;
}

}  // namespace fringe::analysis
