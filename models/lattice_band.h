// Lattice-fringe band power: where in a frame is there power on the rings |k| = 1/d of a
// crystal's interplanar spacings (Au {111} 0.235 nm, {200} 0.204 nm)? A crystalline particle
// near a zone axis puts Bragg spots there; amorphous carbon and shot noise spread their power
// over all frequencies. The Fourier band-pass baseline segments with it
// (fourier_bandpass.h), every served frame's lattice check uses it (frame_quality.h), and the
// per-particle lattice analysis builds on it. No LibTorch here.
//
//   1. Mirror-pad, FFT, keep a raised-cosine ring around each k = pixel_size / d
//      (cycles/pixel) on one half-plane (the analytic signal), inverse FFT.
//   2. Local energy = Gaussian-smoothed |analytic signal|^2 (the fringe envelope squared).
#ifndef FRINGE_MODELS_LATTICE_BAND_H_
#define FRINGE_MODELS_LATTICE_BAND_H_

#include <map>
#include <memory>
#include <mutex>
#include <opencv2/core.hpp>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace fringe {

struct LatticeBandOptions {
  double pixel_size_nm = 0.0;                          // Of the images given to Energy; > 0.
  std::vector<double> d_spacings_nm = {0.235, 0.204};  // Au {111}, {200}.
  double relative_bandwidth = 0.1;                     // Ring half-width / ring radius.
  double smoothing_nm = 0.4;                           // Gaussian sigma of the local energy.
};

class LatticeBand {
 public:
  // INVALID_ARGUMENT naming the field: pixel_size_nm > 0; every spacing > 0, resolvable
  // (pixel / d < 0.5 cycles/pixel) and at most 128 pixels; relative_bandwidth in
  // [0.02, 0.5]; smoothing_nm > 0 and at most 256 pixels.
  static absl::StatusOr<std::unique_ptr<LatticeBand>> Create(const LatticeBandOptions& options);

  // Local fringe energy of `image` (CV_32FC1, finite, non-empty; typically standardised), the
  // image's size, in squared image units. Thread-safe and deterministic; OpenCV exceptions
  // propagate (callers wrap them).
  cv::Mat Energy(const cv::Mat& image) const;

  const LatticeBandOptions& options() const { return options_; }
  // Ring centres in cycles/pixel, one per spacing.
  const std::vector<double>& band_centers() const { return band_centers_; }
  double smoothing_px() const { return smoothing_px_; }
  // Radius (px) over which the ring filter blurs a fringe envelope (1 sigma), for edge logic.
  double filter_sigma_px() const;

 private:
  explicit LatticeBand(const LatticeBandOptions& options) : options_(options) {}
  // The half-plane ring filter (CV_32F, rows x cols, DFT layout), built once per padded size.
  std::shared_ptr<const cv::Mat> Filter(int rows, int cols) const;

  LatticeBandOptions options_;
  std::vector<double> band_centers_;
  double smoothing_px_ = 0;
  int pad_px_ = 0;
  mutable std::mutex filters_mutex_;
  mutable std::map<std::pair<int, int>, std::shared_ptr<const cv::Mat>> filters_;
};

}  // namespace fringe

#endif  // FRINGE_MODELS_LATTICE_BAND_H_
