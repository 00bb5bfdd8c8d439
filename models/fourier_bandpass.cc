#include "models/fourier_bandpass.h"

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstring>
#include <limits>
#include <opencv2/imgproc.hpp>
#include <string>

#include "absl/strings/str_cat.h"

namespace fringe {
namespace {

constexpr double kPi = 3.14159265358979323846;

// Defaults, as documented in proto/fringe/v1/model_config.proto.
constexpr double kDefaultSpacingsNm[] = {0.235, 0.204};  // Au {111}, {200}
constexpr double kDefaultRelativeBandwidth = 0.1;
constexpr double kDefaultSmoothingNm = 0.4;
constexpr double kDefaultMinAreaNm2 = 1.0;
constexpr double kDefaultClosingNm = 0.3;

// Steepness of p(particle) = 1 / (1 + (threshold / energy)^s), i.e. a logistic of
// log(energy / threshold) with slope s: a factor 2 in energy moves p from 0.5 to 0.94.
constexpr int kLogisticSlope = 4;
// Where cleaning overrides the threshold (gaps closed, small regions dropped), p is pushed
// this far to the mask's side of 0.5 so that argmax reproduces the cleaned mask.
constexpr float kConsistencyMargin = 1.0f / 64;

// Otsu's threshold always splits a histogram in two, even a tile of pure noise. Fringes must
// therefore also beat this multiple of a low quantile of the energy: in a fringe-free tile the
// smoothed energy of band-passed noise is a sum of many independent speckles and stays within
// roughly 0.5..2 of its median, so the quantile is the noise level unless particles cover
// nearly the whole tile.
constexpr double kNoiseQuantile = 0.1;
constexpr double kNoiseFloorFactor = 3.0;
constexpr int kOtsuBins = 256;

// Edge placement. A threshold decides *which* regions have fringes, but placing the edge at
// that threshold would put it where the blurred energy step around a particle crosses a level
// far below the particle's plateau when the fringes are strong: the mask would grow with
// fringe contrast (on synthetic 5.6 nm disks: +20% in radius at 100x the noise energy). The
// edge of a step blurred linearly in energy (the smoothing) lies at half the plateau, of one
// blurred linearly in amplitude (the ring filter) at a quarter; each pixel must therefore
// also exceed this fraction of the local plateau (the maximum energy within reach of the
// blur). 0.4 gave areas within 10% of the truth for 2.7-5.6 nm disks with fringe amplitudes
// 0.45-3 noise sigmas (on 1.6 nm disks the blur still adds 10-40%).
constexpr double kEdgeFraction = 0.4;

// Energies and quantiles are estimated on at most about this many pixels (a regular
// sub-grid): the smoothed energy is correlated over several pixels, so more add nothing.
constexpr int kMaxStatisticsSamples = 1 << 16;

// Bounds that keep the work per tile finite for extreme (but valid) parameters.
constexpr double kMaxPeriodPx = 128;  // Lattice fringes are a few to a few tens of pixels.
constexpr double kMaxReachPx = 256;   // Mirror padding and plateau search radius.

bool Finite(double v) { return std::isfinite(v); }

// Values of `m` (CV_32F) on a regular sub-grid of at most ~kMaxStatisticsSamples pixels.
std::vector<float> Sample(const cv::Mat& m) {
  const double total = static_cast<double>(m.rows) * m.cols;
  const int stride =
      std::max(1, static_cast<int>(std::ceil(std::sqrt(total / kMaxStatisticsSamples))));
  std::vector<float> values;
  values.reserve(static_cast<size_t>((m.rows / stride + 1) * (m.cols / stride + 1)));
  for (int y = stride / 2; y < m.rows; y += stride) {
    const float* row = m.ptr<float>(y);
    for (int x = stride / 2; x < m.cols; x += stride) values.push_back(row[x]);
  }
  if (values.empty()) values.push_back(m.at<float>(0, 0));
  return values;
}

// The q-quantile of `values` (reorders them).
double Quantile(std::vector<float>* values, double q) {
  const size_t k = std::min(values->size() - 1, static_cast<size_t>(q * values->size()));
  std::nth_element(values->begin(), values->begin() + k, values->end());
  return (*values)[k];
}

// Otsu's threshold on log(values) (all > 0), returned in linear units. The energy of noise and
// of fringes differ by a factor, not an offset, so their log-energies form two modes of
// similar shape; in linear units the particle mode would be a long, sparse tail.
double OtsuOnLog(const std::vector<float>& values) {
  std::vector<double> logs(values.size());
  double lo = std::numeric_limits<double>::infinity(), hi = -lo;
  for (size_t i = 0; i < values.size(); ++i) {
    logs[i] = std::log(static_cast<double>(values[i]));
    lo = std::min(lo, logs[i]);
    hi = std::max(hi, logs[i]);
  }
  if (!(hi - lo > 1e-9)) return std::exp(hi);
  std::vector<double> hist(kOtsuBins, 0.0);
  const double scale = kOtsuBins / (hi - lo);
  for (double l : logs) hist[std::min(kOtsuBins - 1, static_cast<int>((l - lo) * scale))] += 1;
  double total_sum = 0;
  for (int b = 0; b < kOtsuBins; ++b) total_sum += b * hist[b];
  const double n = static_cast<double>(logs.size());
  double w0 = 0, sum0 = 0, best = -1;
  int best_bin = 0;
  for (int b = 0; b < kOtsuBins - 1; ++b) {
    w0 += hist[b];
    sum0 += b * hist[b];
    const double w1 = n - w0;
    if (w0 == 0 || w1 == 0) continue;
    const double m0 = sum0 / w0, m1 = (total_sum - sum0) / w1;
    const double between = w0 * w1 * (m0 - m1) * (m0 - m1);
    if (between > best) {
      best = between;
      best_bin = b;
    }
  }
  return std::exp(lo + (best_bin + 1) / scale);  // Upper edge of the last background bin.
}

// Morphological closing of a 0/1 mask with a disk of radius r pixels, via exact Euclidean
// distance transforms: cost independent of r, and a true disk at any radius. Outside the
// image counts as background for the dilation and as foreground for the erosion (the usual
// closing convention, so particles touching the border are not eaten).
cv::Mat CloseWithDisk(const cv::Mat& mask, double r) {
  cv::Mat background = mask == 0, dist;
  cv::distanceTransform(background, dist, cv::DIST_L2, cv::DIST_MASK_PRECISE);
  cv::Mat dilated = dist <= r;  // 255 within r of the mask (the mask itself has distance 0).
  cv::distanceTransform(dilated, dist, cv::DIST_L2, cv::DIST_MASK_PRECISE);
  cv::Mat closed = dist > r;
  closed.setTo(1, closed);
  return closed;
}

// Local maximum of `energy` within about `radius` pixels of each pixel. The energy is smooth
// on the scale of the smoothing sigma, so the maximum is taken on blocks of `block` pixels,
// dilated with a disk on that coarse grid and interpolated back: cost independent of radius.
cv::Mat LocalMaximum(const cv::Mat& energy, double radius, int block) {
  const int rows = (energy.rows + block - 1) / block, cols = (energy.cols + block - 1) / block;
  cv::Mat coarse(rows, cols, CV_32F, cv::Scalar(-FLT_MAX));
  for (int y = 0; y < energy.rows; ++y) {
    const float* e = energy.ptr<float>(y);
    float* c = coarse.ptr<float>(y / block);
    for (int x = 0; x < energy.cols; ++x) c[x / block] = std::max(c[x / block], e[x]);
  }
  const int r = static_cast<int>(std::ceil(radius / block));
  cv::dilate(coarse, coarse,
             cv::getStructuringElement(cv::MORPH_ELLIPSE, cv::Size(2 * r + 1, 2 * r + 1)),
             cv::Point(-1, -1), 1, cv::BORDER_REPLICATE);
  if (block == 1) return coarse;
  // Block centres sit at (i + 0.5) * block - 0.5; INTER_LINEAR with the exact scale puts them
  // there. The padded coarse size may overshoot the image: resize to the padded size, then crop.
  cv::Mat fine;
  cv::resize(coarse, fine, cv::Size(cols * block, rows * block), 0, 0, cv::INTER_LINEAR);
  return fine(cv::Rect(0, 0, energy.cols, energy.rows)).clone();
}

// Drops 8-connected regions with fewer than min_area pixels.
void RemoveSmallRegions(cv::Mat* mask, double min_area) {
  cv::Mat labels, stats, centroids;
  const int count = cv::connectedComponentsWithStats(*mask, labels, stats, centroids, 8, CV_32S);
  std::vector<uint8_t> keep(count, 0);
  for (int i = 1; i < count; ++i) keep[i] = stats.at<int>(i, cv::CC_STAT_AREA) >= min_area;
  for (int y = 0; y < mask->rows; ++y) {
    const int* l = labels.ptr<int>(y);
    uint8_t* m = mask->ptr<uint8_t>(y);
    for (int x = 0; x < mask->cols; ++x) m[x] = keep[l[x]];
  }
}

}  // namespace

void ApplyFourierBandpassDefaults(v1::FourierBandpassParams* params) {
  if (params->d_spacings_nm_size() == 0) {
    for (double d : kDefaultSpacingsNm) params->add_d_spacings_nm(d);
  }
  if (params->relative_bandwidth() == 0) params->set_relative_bandwidth(kDefaultRelativeBandwidth);
  if (params->smoothing_nm() == 0) params->set_smoothing_nm(kDefaultSmoothingNm);
  if (params->min_area_nm2() == 0) params->set_min_area_nm2(kDefaultMinAreaNm2);
  if (params->closing_nm() == 0) params->set_closing_nm(kDefaultClosingNm);
}

absl::Status ValidateFourierBandpassConfig(const v1::ModelConfig& config) {
  const double pixel = config.pixel_size_nm();
  if (!Finite(pixel) || pixel <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("pixel_size_nm is ", pixel,
                     "; fourier-bandpass needs the pixel size (> 0) to place its pass bands"));
  }
  if (config.classes_size() != 0 && config.classes_size() != 2) {
    return absl::InvalidArgumentError(
        absl::StrCat("classes has ", config.classes_size(),
                     " entries; fourier-bandpass predicts exactly 2 (background, particle)"));
  }
  const v1::FourierBandpassParams& p = config.fourier_bandpass();
  if (p.d_spacings_nm_size() == 0) {
    return absl::InvalidArgumentError("fourier_bandpass.d_spacings_nm is empty");
  }
  for (int i = 0; i < p.d_spacings_nm_size(); ++i) {
    const double d = p.d_spacings_nm(i);
    if (!Finite(d) || d <= 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("fourier_bandpass.d_spacings_nm[", i, "] is ", d, "; expected > 0"));
    }
    if (d / pixel > kMaxPeriodPx) {
      return absl::InvalidArgumentError(
          absl::StrCat("fourier_bandpass.d_spacings_nm[", i, "] = ", d, " nm is ", d / pixel,
                       " pixels at pixel_size_nm ", pixel, "; lattice fringes of at most ",
                       kMaxPeriodPx, " pixels expected"));
    }
    if (pixel / d >= 0.5) {
      return absl::InvalidArgumentError(
          absl::StrCat("fourier_bandpass.d_spacings_nm[", i, "] = ", d,
                       " nm is at or beyond the Nyquist "
                       "limit 2 * pixel_size_nm = ",
                       2 * pixel, " nm (frequency ", pixel / d, " cycles/pixel, must be < 0.5)"));
    }
  }
  const double bw = p.relative_bandwidth();
  // Narrower bands would need huge tiles to resolve and respond over huge distances; wider
  // ones would reach zero frequency (the ring's skirt extends to 1.5 half-widths).
  if (!Finite(bw) || bw < 0.02 || bw > 0.5) {
    return absl::InvalidArgumentError(
        absl::StrCat("fourier_bandpass.relative_bandwidth is ", bw, "; expected 0.02..0.5"));
  }
  if (!Finite(p.smoothing_nm()) || p.smoothing_nm() <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("fourier_bandpass.smoothing_nm is ", p.smoothing_nm(), "; expected > 0"));
  }
  // Beyond a few hundred pixels the Gaussian would be larger than any sensible tile.
  if (p.smoothing_nm() / pixel > 256) {
    return absl::InvalidArgumentError(
        absl::StrCat("fourier_bandpass.smoothing_nm is ", p.smoothing_nm(),
                     " nm = ", p.smoothing_nm() / pixel, " pixels; expected at most 256 pixels"));
  }
  if (!Finite(p.threshold()) || p.threshold() < 0) {
    return absl::InvalidArgumentError(absl::StrCat("fourier_bandpass.threshold is ", p.threshold(),
                                                   "; expected >= 0 (0 = Otsu)"));
  }
  if (!Finite(p.min_area_nm2()) || p.min_area_nm2() < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("fourier_bandpass.min_area_nm2 is ", p.min_area_nm2(), "; expected >= 0"));
  }
  if (!Finite(p.closing_nm()) || p.closing_nm() < 0 || p.closing_nm() / pixel > 256) {
    return absl::InvalidArgumentError(absl::StrCat("fourier_bandpass.closing_nm is ",
                                                   p.closing_nm(),
                                                   "; expected >= 0 and at most 256 pixels"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<FourierBandpassSegmenter>> FourierBandpassSegmenter::Create(
    const v1::ModelConfig& config) {
  v1::ModelConfig resolved = config;
  ApplyFourierBandpassDefaults(resolved.mutable_fourier_bandpass());
  if (absl::Status s = ValidateFourierBandpassConfig(resolved); !s.ok()) return s;

  const double pixel = resolved.pixel_size_nm();
  const v1::FourierBandpassParams& p = resolved.fourier_bandpass();
  std::unique_ptr<FourierBandpassSegmenter> model(new FourierBandpassSegmenter());
  LatticeBandOptions band;
  band.pixel_size_nm = pixel;
  band.d_spacings_nm.assign(p.d_spacings_nm().begin(), p.d_spacings_nm().end());
  band.relative_bandwidth = p.relative_bandwidth();
  band.smoothing_nm = p.smoothing_nm();
  absl::StatusOr<std::unique_ptr<LatticeBand>> lattice = LatticeBand::Create(band);
  if (!lattice.ok()) return lattice.status();
  model->band_ = *std::move(lattice);
  model->threshold_ = p.threshold();
  model->min_area_px_ = p.min_area_nm2() / (pixel * pixel);
  model->closing_px_ = p.closing_nm() / pixel;
  // The energy profile across a particle edge is a step blurred by the ring filter (acting on
  // the amplitude; its envelope response has a width ~ 1 / (2 pi half-width)) and by the
  // smoothing Gaussian. Within three combined sigmas of an edge the local maximum is the
  // particle's plateau.
  // The energy varies little over a third of that combined sigma, so the plateau search runs
  // on blocks of that size.
  const double blur_sigma_px =
      std::hypot(model->band_->smoothing_px(), model->band_->filter_sigma_px());
  model->edge_reach_px_ = std::min(kMaxReachPx, 3 * blur_sigma_px);
  model->plateau_block_px_ = std::max(1, static_cast<int>(blur_sigma_px / 3));
  return model;
}

absl::StatusOr<FourierBandpassSegmenter::TileResult> FourierBandpassSegmenter::SegmentTile(
    const cv::Mat& tile) const {
  if (tile.empty() || tile.type() != CV_32FC1) {
    return absl::InvalidArgumentError("tile must be a non-empty single-channel float image");
  }
  if (!cv::checkRange(tile, /*quiet=*/true, nullptr, -FLT_MAX, FLT_MAX)) {
    return absl::InvalidArgumentError("tile contains NaN or infinite values");
  }
  try {
    return SegmentTileUnchecked(tile);
  } catch (const cv::Exception& e) {
    return absl::InternalError(absl::StrCat("fourier-bandpass: OpenCV failed: ", e.what()));
  }
}

absl::StatusOr<FourierBandpassSegmenter::TileResult> FourierBandpassSegmenter::SegmentTileUnchecked(
    const cv::Mat& tile) const {
  const int h = tile.rows, w = tile.cols;
  // 1-2. Band-pass to the fringes' analytic signal and smooth its squared envelope.
  TileResult result;
  result.energy = band_->Energy(tile);
  result.mask = cv::Mat::zeros(h, w, CV_8U);
  result.probability = cv::Mat::zeros(h, w, CV_32F);

  // Normalise by the median: dose, contrast transfer at 1/d and carbon thickness scale all
  // energies alike, so thresholds are ratios to the typical (background) energy.
  std::vector<float> samples = Sample(result.energy);
  const double median = Quantile(&samples, 0.5);
  if (!(median > 0) || !std::isfinite(median)) {
    result.threshold = threshold_ > 0 ? threshold_ : kNoiseFloorFactor;
    return result;  // No band-passed signal at all (e.g. a constant tile): all background.
  }
  result.energy *= 1.0 / median;
  for (float& v : samples) v = std::max(static_cast<float>(v / median), FLT_MIN);

  // 3. Threshold and clean up.
  if (threshold_ > 0) {
    result.threshold = threshold_;
  } else {
    const double otsu = OtsuOnLog(samples);
    const double floor = kNoiseFloorFactor * Quantile(&samples, kNoiseQuantile);
    result.threshold = std::max(otsu, floor);
  }
  // Edges at a fraction of the local plateau (see kEdgeFraction), never below the threshold.
  cv::Mat local_threshold = LocalMaximum(result.energy, edge_reach_px_, plateau_block_px_);
  local_threshold *= kEdgeFraction;
  cv::max(local_threshold, result.threshold, local_threshold);
  cv::Mat raw = result.energy > local_threshold;
  raw.setTo(1, raw);
  if (cv::countNonZero(raw) > 0) {  // Most tiles of a sparse specimen have nothing to clean.
    cv::Mat cleaned = closing_px_ > 0 ? CloseWithDisk(raw, closing_px_) : raw;
    if (min_area_px_ > 0) RemoveSmallRegions(&cleaned, min_area_px_);
    result.mask = cleaned;
  }

  // 4. Probabilities: 1 / (1 + (t / E)^s) = logistic(s * log(E / t)) with t the pixel's
  // threshold above (so p = 0.5 exactly where the raw mask changes), then pushed to the
  // cleaned mask's side of 0.5 where cleaning changed the decision.
  for (int y = 0; y < h; ++y) {
    const float* e = result.energy.ptr<float>(y);
    const float* t = local_threshold.ptr<float>(y);
    const uint8_t* m = result.mask.ptr<uint8_t>(y);
    float* p = result.probability.ptr<float>(y);
    for (int x = 0; x < w; ++x) {
      const float q = e[x] > 0 ? t[x] / e[x] : std::numeric_limits<float>::infinity();
      float qs = 1;
      for (int k = 0; k < kLogisticSlope; ++k) qs *= q;
      float prob = 1.0f / (1.0f + qs);
      if (m[x]) {
        prob = std::max(prob, 0.5f + kConsistencyMargin);
      } else {
        prob = std::min(prob, 0.5f - kConsistencyMargin);
      }
      p[x] = prob;
    }
  }
  return result;
}

absl::Status FourierBandpassSegmenter::Predict(const float* input, int n, int h, int w,
                                               std::vector<float>* probs) const {
  if (input == nullptr || probs == nullptr) {
    return absl::InvalidArgumentError("input and probs must not be null");
  }
  if (n < 1 || h < 1 || w < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("batch shape ", n, " x ", h, " x ", w, " must be positive"));
  }
  const size_t pixels = static_cast<size_t>(h) * w;
  probs->resize(static_cast<size_t>(n) * 2 * pixels);
  for (int i = 0; i < n; ++i) {
    // OpenCV needs a non-const pointer for a header; the tile is only read.
    const cv::Mat tile(h, w, CV_32F, const_cast<float*>(input + i * pixels));
    absl::StatusOr<TileResult> r = SegmentTile(tile);
    if (!r.ok()) {
      return absl::Status(r.status().code(), absl::StrCat("tile ", i, ": ", r.status().message()));
    }
    float* background = probs->data() + (2 * static_cast<size_t>(i)) * pixels;
    float* particle = background + pixels;
    for (int y = 0; y < h; ++y) {
      const float* p = r->probability.ptr<float>(y);
      for (int x = 0; x < w; ++x) {
        particle[static_cast<size_t>(y) * w + x] = p[x];
        background[static_cast<size_t>(y) * w + x] = 1.0f - p[x];
      }
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<Segmenter>> CreateFourierBandpassSegmenter(
    const v1::ModelConfig& config) {
  absl::StatusOr<std::unique_ptr<FourierBandpassSegmenter>> model =
      FourierBandpassSegmenter::Create(config);
  if (!model.ok()) return model.status();
  return std::unique_ptr<Segmenter>(std::move(*model));
}

}  // namespace fringe
