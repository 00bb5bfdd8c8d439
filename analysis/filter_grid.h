// First-layer filters and their spectra as an image grid (Horwath et al. 2019 read a
// network's first convolutions as edge and frequency detectors). Each filter is shown twice:
// its weights (diverging colours, scaled to its own largest |w|) and the amplitude of its
// zero-padded 2-D FFT (DC in the centre, rings at the Au {111}/{200} frequencies when the
// pixel size is known). Torch-free: the caller hands in the k x k weight matrices.
#ifndef FRINGE_ANALYSIS_FILTER_GRID_H_
#define FRINGE_ANALYSIS_FILTER_GRID_H_

#include <opencv2/core.hpp>
#include <string>
#include <vector>

namespace fringe::analysis {

struct FilterGridOptions {
  int cell = 96;             // Side of each weight / spectrum picture in pixels (>= 16).
  int columns = 4;           // Filters per row (>= 1); each takes two pictures.
  int spectrum_size = 32;    // FFT size the k x k filter is zero-padded to (>= the filter).
  double pixel_size_nm = 0;  // > 0: draw the Au fringe rings on the spectra.
  std::string title;
};

// Pixel geometry of the grid, so callers and tests know where each filter landed.
struct FilterGridLayout {
  cv::Size size;        // The whole picture.
  int header = 0;       // Title band height.
  int caption = 0;      // Caption band above each cell.
  int cell_width = 0;   // One filter's slot: weights + gap + spectrum.
  int cell_height = 0;  // caption + cell.
  int gap = 0;          // Between slots (and between weights and spectrum).
  int rows = 0;
  // The weight picture of filter i.
  cv::Rect WeightsRect(int i, const FilterGridOptions& options) const;
  // The spectrum picture of filter i.
  cv::Rect SpectrumRect(int i, const FilterGridOptions& options) const;
};

FilterGridLayout ComputeFilterGridLayout(int filters, const FilterGridOptions& options);

// |FFT| of `filter` (single channel, any depth) zero-padded to size x size and shifted so
// that DC sits at (size / 2, size / 2). CV_32F.
cv::Mat FilterAmplitudeSpectrum(const cv::Mat& filter, int size);

// Numbers a reader compares across filters.
struct FilterSummary {
  int index = 0;
  double dc_gain = 0;  // Sum of the weights (the response to a flat image).
  double l2_norm = 0;
  // Strongest frequency of the zero-padded spectrum (DC included), cycles/px, and its
  // orientation (degrees, 0 = varying along x, i.e. vertical stripes).
  double peak_frequency = 0;
  double peak_orientation_deg = 0;
  // Share of the spectrum's energy (sum of |F|^2) in the Au band [0.9 f111, 1.1 f200];
  // 0 when the pixel size is unknown.
  double au_band_energy_fraction = 0;
  std::string kind;  // "low-pass" (peak at DC), "high-pass" (peak at Nyquist), "band-pass".
};

std::vector<FilterSummary> SummarizeFilters(const std::vector<cv::Mat>& filters, int spectrum_size,
                                            double pixel_size_nm);

// The grid (BGR): ComputeFilterGridLayout(filters.size(), options).size, filter i in row
// i / columns, column i % columns, captioned "#i max|w| 0.12".
cv::Mat RenderFilterGrid(const std::vector<cv::Mat>& filters, const FilterGridOptions& options);

// CSV: "filter,row,col,weight" with one row per weight.
std::string FormatFilterWeightsCsv(const std::vector<cv::Mat>& filters);

}  // namespace fringe::analysis

#endif  // FRINGE_ANALYSIS_FILTER_GRID_H_
