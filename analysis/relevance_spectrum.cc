#include "analysis/relevance_spectrum.h"

#include <algorithm>
#include <cmath>
#include <opencv2/imgproc.hpp>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "plot/csv.h"
#include "plot/plot.h"

namespace fringe::analysis {
namespace {

bool PerNm(const RadialSpectrum& s) { return s.unit == "1/nm"; }

// Fringe frequency of spacing d in the spectrum's unit.
double FringeFrequency(const RadialSpectrum& s, double spacing_nm, double pixel_size_nm) {
  if (PerNm(s)) return 1.0 / spacing_nm;
  return pixel_size_nm > 0 ? pixel_size_nm / spacing_nm : 0.0;
}

// Mean amplitude over rings whose centre lies in [lo, hi].
std::pair<double, int> BandMean(const RadialSpectrum& s, double lo, double hi) {
  double sum = 0;
  int n = 0;
  for (size_t i = 0; i < s.frequency.size(); ++i) {
    if (s.frequency[i] >= lo && s.frequency[i] <= hi && s.count[i] > 0) {
      sum += s.amplitude[i];
      ++n;
    }
  }
  return {sum, n};
}

}  // namespace

RadialSpectrum ComputeRadialSpectrum(const cv::Mat& map, const RadialSpectrumOptions& options) {
  RadialSpectrum out;
  out.unit = options.pixel_size_nm > 0 ? "1/nm" : "cycles/px";
  if (map.empty() || map.channels() != 1 || map.rows < 4 || map.cols < 4) return out;
  cv::Mat f;
  map.convertTo(f, CV_32F);
  f.setTo(0, f != f);  // NaN -> 0: one bad pixel must not poison every frequency.
  if (options.subtract_mean) f -= cv::mean(f)[0];
  if (options.hann_window) {
    cv::Mat window;
    cv::createHanningWindow(window, f.size(), CV_32F);
    f = f.mul(window);
  }
  cv::Mat spectrum;
  cv::dft(f, spectrum, cv::DFT_COMPLEX_OUTPUT);
  const int rows = f.rows, cols = f.cols;
  // Frequencies in cycles/px; one ring per Fourier sample of the shorter side by default.
  const double unit = options.pixel_size_nm > 0 ? 1.0 / options.pixel_size_nm : 1.0;
  const double width_px =
      options.bin_width > 0 ? options.bin_width / unit : 1.0 / std::min(rows, cols);
  const int bins = std::max(1, static_cast<int>(std::floor(0.5 / width_px + 1e-9)));
  std::vector<double> sum(bins, 0.0);
  std::vector<int64_t> count(bins, 0);
  for (int y = 0; y < rows; ++y) {
    const double fy = (y <= rows / 2 ? y : y - rows) / static_cast<double>(rows);
    const cv::Vec2f* row = spectrum.ptr<cv::Vec2f>(y);
    for (int x = 0; x < cols; ++x) {
      const double fx = (x <= cols / 2 ? x : x - cols) / static_cast<double>(cols);
      const int bin = static_cast<int>(std::floor(std::hypot(fx, fy) / width_px));
      if (bin < 0 || bin >= bins) continue;
      sum[bin] += std::hypot(row[x][0], row[x][1]);
      ++count[bin];
    }
  }
  out.bin_width = width_px * unit;
  for (int i = 0; i < bins; ++i) {
    out.frequency.push_back((i + 0.5) * out.bin_width);
    out.amplitude.push_back(count[i] > 0 ? sum[i] / count[i] : 0.0);
    out.count.push_back(count[i]);
  }
  return out;
}

void NormaliseSpectrum(RadialSpectrum* spectrum) {
  double sum = 0;
  int n = 0;
  for (size_t i = 1; i < spectrum->amplitude.size(); ++i) {
    if (spectrum->count[i] == 0) continue;
    sum += spectrum->amplitude[i];
    ++n;
  }
  if (n == 0 || !(sum > 0)) return;
  for (double& a : spectrum->amplitude) a /= sum / n;
}

std::vector<double> SpectraStd(const std::vector<RadialSpectrum>& spectra,
                               const RadialSpectrum& mean) {
  std::vector<double> out(mean.frequency.size(), 0.0);
  for (size_t i = 0; i < out.size(); ++i) {
    double ss = 0;
    int n = 0;
    for (const RadialSpectrum& s : spectra) {
      if (i >= s.amplitude.size() || s.count[i] == 0) continue;
      ss += (s.amplitude[i] - mean.amplitude[i]) * (s.amplitude[i] - mean.amplitude[i]);
      ++n;
    }
    out[i] = n > 1 ? std::sqrt(ss / (n - 1)) : 0.0;
  }
  return out;
}

RadialSpectrum AverageSpectra(const std::vector<RadialSpectrum>& spectra) {
  RadialSpectrum out;
  if (spectra.empty()) return out;
  out.unit = spectra[0].unit;
  out.bin_width = spectra[0].bin_width;
  size_t bins = 0;
  for (const RadialSpectrum& s : spectra) bins = std::max(bins, s.frequency.size());
  for (size_t i = 0; i < bins; ++i) {
    double sum = 0;
    int64_t samples = 0;
    int n = 0;
    for (const RadialSpectrum& s : spectra) {
      if (i >= s.frequency.size() || s.count[i] == 0) continue;
      sum += s.amplitude[i];
      samples += s.count[i];
      ++n;
    }
    out.frequency.push_back((i + 0.5) * out.bin_width);
    out.amplitude.push_back(n > 0 ? sum / n : 0.0);
    out.count.push_back(samples);
  }
  return out;
}

SpectrumSummary SummarizeSpectrum(const RadialSpectrum& spectrum, double pixel_size_nm,
                                  double min_frequency) {
  SpectrumSummary s;
  s.f111 = FringeFrequency(spectrum, kAu111SpacingNm, pixel_size_nm);
  s.f200 = FringeFrequency(spectrum, kAu200SpacingNm, pixel_size_nm);
  for (size_t i = 0; i < spectrum.frequency.size(); ++i) {
    if (spectrum.frequency[i] < min_frequency || spectrum.count[i] == 0) continue;
    if (spectrum.amplitude[i] > s.peak_amplitude) {
      s.peak_amplitude = spectrum.amplitude[i];
      s.peak_frequency = spectrum.frequency[i];
    }
  }
  if (s.f111 > 0) {
    const auto [band, nb] = BandMean(spectrum, 0.9 * s.f111, 1.1 * s.f200);
    const auto [low, nl] = BandMean(spectrum, 0.6 * s.f111, 0.85 * s.f111);
    const auto [high, nh] = BandMean(spectrum, 1.2 * s.f200, 1.5 * s.f200);
    if (nb > 0 && nl + nh > 0 && (low + high) > 0) {
      s.au_band_contrast = (band / nb) / ((low + high) / (nl + nh));
    }
  }
  return s;
}

cv::Mat RenderSpectrumPlot(const std::vector<SpectrumCurve>& curves, double pixel_size_nm,
                           const std::string& title) {
  std::vector<plot::PlotSeries> series;
  std::string unit = "cycles/px";
  for (const SpectrumCurve& c : curves) {
    const RadialSpectrum& s = c.spectrum;
    unit = s.unit;
    // Each curve over its own mean (DC ring excluded), so maps of any scale overlay.
    double mean = 0;
    int n = 0;
    for (size_t i = 1; i < s.amplitude.size(); ++i) {
      if (s.count[i] > 0) {
        mean += s.amplitude[i];
        ++n;
      }
    }
    mean = n > 0 && mean > 0 ? mean / n : 1.0;
    plot::PlotSeries ser;
    ser.label = c.label;
    for (size_t i = 0; i < s.frequency.size(); ++i) {
      if (s.count[i] == 0) continue;
      ser.x.push_back(s.frequency[i]);
      ser.y.push_back(s.amplitude[i] / mean);
      if (i < c.spread.size()) ser.spread.push_back(c.spread[i] / mean);
    }
    if (ser.spread.size() != ser.x.size()) ser.spread.clear();
    series.push_back(std::move(ser));
  }
  plot::LinePlotOptions options;
  options.title = title;
  options.x_label = unit == "1/nm" ? "spatial frequency (1/nm)" : "spatial frequency (cycles/px)";
  options.y_label = "|FFT|, radial mean / curve mean (log)";
  options.log_y = true;
  RadialSpectrum probe;
  probe.unit = unit;
  const double f111 = FringeFrequency(probe, kAu111SpacingNm, pixel_size_nm);
  const double f200 = FringeFrequency(probe, kAu200SpacingNm, pixel_size_nm);
  if (f111 > 0) {
    options.x_markers.push_back({f111, "Au {111} 0.235 nm", cv::Scalar(0, 140, 200)});
    options.x_markers.push_back({f200, "Au {200} 0.204 nm", cv::Scalar(0, 100, 0)});
    options.x_markers.push_back({FringeFrequency(probe, kAu220SpacingNm, pixel_size_nm),
                                 "Au {220} 0.144 nm", cv::Scalar(140, 60, 140)});
  } else {
    options.note = "pixel size unknown: Au fringe frequencies not marked";
  }
  return plot::RenderLinePlot(series, options);
}

std::string FormatSpectrumCsv(const std::vector<SpectrumCurve>& curves) {
  std::string out = "frequency";
  if (!curves.empty())
    absl::StrAppend(&out, "_", curves[0].spectrum.unit == "1/nm" ? "per_nm" : "cycles_per_px");
  for (const SpectrumCurve& c : curves) absl::StrAppend(&out, ",", CsvField(c.label));
  absl::StrAppend(&out, "\n");
  if (curves.empty()) return out;
  const RadialSpectrum& first = curves[0].spectrum;
  for (size_t i = 0; i < first.frequency.size(); ++i) {
    absl::StrAppend(&out, CsvNumber(first.frequency[i]));
    for (const SpectrumCurve& c : curves) {
      const bool has = i < c.spectrum.amplitude.size() && c.spectrum.count[i] > 0;
      absl::StrAppend(&out, ",", has ? CsvNumber(c.spectrum.amplitude[i]) : "");
    }
    absl::StrAppend(&out, "\n");
  }
  return out;
}

}  // namespace fringe::analysis
