#include "models/lattice_band.h"

#include <algorithm>
#include <cmath>
#include <opencv2/imgproc.hpp>

#include "absl/strings/str_cat.h"

namespace fringe {
namespace {

constexpr double kPi = 3.14159265358979323846;
constexpr double kMaxPeriodPx = 128;  // Lattice fringes are a few to a few tens of pixels.
constexpr double kMaxReachPx = 256;   // Bound on mirror padding.

// Raised-cosine ring profile around k0 with half-width at half maximum hw: flat (1) within
// hw / 2 of k0, falling smoothly to 0 at 3 hw / 2. Smooth edges keep the spatial response of
// the filter short (a hard-edged ring rings for many fringe periods beyond a particle).
double RingGain(double k, double k0, double hw) {
  const double a = std::abs(k - k0);
  if (a <= 0.5 * hw) return 1.0;
  if (a >= 1.5 * hw) return 0.0;
  return 0.5 * (1.0 + std::cos(kPi * (a - 0.5 * hw) / hw));
}

}  // namespace

absl::StatusOr<std::unique_ptr<LatticeBand>> LatticeBand::Create(
    const LatticeBandOptions& options) {
  const double pixel = options.pixel_size_nm;
  if (!(pixel > 0) || !std::isfinite(pixel)) {
    return absl::InvalidArgumentError(
        absl::StrCat("pixel_size_nm is ", pixel, "; the lattice band needs a pixel size > 0"));
  }
  if (options.d_spacings_nm.empty()) {
    return absl::InvalidArgumentError("d_spacings_nm is empty");
  }
  for (double d : options.d_spacings_nm) {
    if (!(d > 0) || !std::isfinite(d) || pixel / d >= 0.5 || d / pixel > kMaxPeriodPx) {
      return absl::InvalidArgumentError(
          absl::StrCat("d_spacings_nm entry ", d, " is not resolvable at ", pixel,
                       " nm/px; expected a period between 2 and ", kMaxPeriodPx, " pixels"));
    }
  }
  if (!(options.relative_bandwidth >= 0.02 && options.relative_bandwidth <= 0.5)) {
    return absl::InvalidArgumentError(
        absl::StrCat("relative_bandwidth is ", options.relative_bandwidth, "; expected 0.02..0.5"));
  }
  if (!(options.smoothing_nm > 0) || options.smoothing_nm / pixel > kMaxReachPx) {
    return absl::InvalidArgumentError(absl::StrCat("smoothing_nm is ", options.smoothing_nm,
                                                   "; expected > 0 and at most 256 pixels"));
  }
  std::unique_ptr<LatticeBand> band(new LatticeBand(options));
  double lowest = 0.5;
  for (double d : options.d_spacings_nm) {
    band->band_centers_.push_back(pixel / d);  // k = 1/d nm^-1 = pixel/d cycles/pixel.
    lowest = std::min(lowest, pixel / d);
  }
  band->smoothing_px_ = options.smoothing_nm / pixel;
  // The FFT treats the image as periodic. Mirror padding moves the wrap-around seam away from
  // the image by the reach of the smoothing (3 sigma) plus that of the ring filter (its
  // impulse response decays over ~1 / (2 * half-width) pixels), so the seam's broadband
  // step adds no energy inside the image.
  band->pad_px_ = static_cast<int>(std::ceil(std::min(
      kMaxReachPx, 3 * band->smoothing_px_ + 0.5 / (options.relative_bandwidth * lowest))));
  return band;
}

double LatticeBand::filter_sigma_px() const {
  const double lowest = *std::min_element(band_centers_.begin(), band_centers_.end());
  return 1 / (2 * kPi * options_.relative_bandwidth * lowest);
}

std::shared_ptr<const cv::Mat> LatticeBand::Filter(int rows, int cols) const {
  {
    std::lock_guard<std::mutex> lock(filters_mutex_);
    auto it = filters_.find({rows, cols});
    if (it != filters_.end()) return it->second;
  }
  // Built outside the lock; two threads racing on a new size build identical filters.
  auto filter = std::make_shared<cv::Mat>(rows, cols, CV_32F);
  for (int i = 0; i < rows; ++i) {
    const double fy = static_cast<double>(i <= rows / 2 ? i : i - rows) / rows;
    float* out = filter->ptr<float>(i);
    for (int j = 0; j < cols; ++j) {
      const double fx = static_cast<double>(j <= cols / 2 ? j : j - cols) / cols;
      // One half-plane only, doubled: the inverse transform is then the analytic signal
      // A(x) exp(i phi(x)) of the fringes instead of A(x) cos(phi(x)), so |.|^2 is the
      // fringe envelope A^2 without the oscillation at twice the fringe frequency, and
      // independent of the fringes' phase and orientation.
      const bool half_plane = fx > 0 || (fx == 0 && fy > 0);
      double gain = 0;
      if (half_plane) {
        const double k = std::hypot(fx, fy);
        for (double k0 : band_centers_) {
          gain = std::max(gain, RingGain(k, k0, options_.relative_bandwidth * k0));
        }
      }
      out[j] = static_cast<float>(2 * gain);
    }
  }
  std::lock_guard<std::mutex> lock(filters_mutex_);
  if (filters_.size() >= 16) filters_.clear();  // Bounded: image sizes are few in practice.
  return filters_.emplace(std::make_pair(rows, cols), std::move(filter)).first->second;
}

cv::Mat LatticeBand::Energy(const cv::Mat& image) const {
  const int h = image.rows, w = image.cols;
  // 1. Band-pass to the analytic signal of the lattice fringes.
  const int rows = cv::getOptimalDFTSize(h + 2 * pad_px_);
  const int cols = cv::getOptimalDFTSize(w + 2 * pad_px_);
  cv::Mat padded;
  cv::copyMakeBorder(image, padded, pad_px_, rows - h - pad_px_, pad_px_, cols - w - pad_px_,
                     cv::BORDER_REFLECT_101);
  cv::Mat spectrum;
  cv::dft(padded, spectrum, cv::DFT_COMPLEX_OUTPUT);
  const std::shared_ptr<const cv::Mat> filter = Filter(rows, cols);
  for (int i = 0; i < rows; ++i) {
    float* s = spectrum.ptr<float>(i);
    const float* g = filter->ptr<float>(i);
    for (int j = 0; j < cols; ++j) {
      s[2 * j] *= g[j];
      s[2 * j + 1] *= g[j];
    }
  }
  cv::Mat analytic;
  cv::dft(spectrum, analytic, cv::DFT_INVERSE | cv::DFT_SCALE);

  // 2. Local energy. |analytic|^2 of noise is a speckle pattern with grains about a fringe
  // period across; averaging over a Gaussian a few periods wide (but smaller than a particle)
  // turns it into a stable estimate of fringe power whose noise falls with the number of
  // grains in the window.
  cv::Mat energy(rows, cols, CV_32F);
  for (int i = 0; i < rows; ++i) {
    const float* a = analytic.ptr<float>(i);
    float* e = energy.ptr<float>(i);
    for (int j = 0; j < cols; ++j) e[j] = a[2 * j] * a[2 * j] + a[2 * j + 1] * a[2 * j + 1];
  }
  const int half = static_cast<int>(std::ceil(3 * smoothing_px_));
  cv::GaussianBlur(energy, energy, cv::Size(2 * half + 1, 2 * half + 1), smoothing_px_,
                   smoothing_px_, cv::BORDER_REFLECT_101);
  return energy(cv::Rect(pad_px_, pad_px_, w, h)).clone();
}

}  // namespace fringe
