#include "common/spike_filter.h"

#include <algorithm>
#include <cmath>
#include <opencv2/imgproc.hpp>
#include <vector>

namespace fringe {
namespace {

// Values of `m` (CV_32F) on a regular sub-grid: every pixel for frames up to 1 Mpx, a strided
// sample beyond that (quantiles of a 4096x4096 frame need no 16 M-element sort).
std::vector<float> Sample(const cv::Mat& m, bool absolute) {
  const size_t n = m.total();
  const size_t stride = std::max<size_t>(1, n / (1 << 20));
  std::vector<float> values;
  values.reserve(n / stride + 1);
  for (int r = 0; r < m.rows; ++r) {
    const float* row = m.ptr<float>(r);
    for (int c = static_cast<int>((static_cast<size_t>(r) * m.cols) % stride); c < m.cols;
         c += static_cast<int>(stride)) {
      values.push_back(absolute ? std::abs(row[c]) : row[c]);
    }
  }
  return values;
}

double Quantile(std::vector<float>* values, double q) {
  if (values->empty()) return 0;
  auto it = values->begin() + static_cast<std::ptrdiff_t>(q * (values->size() - 1));
  std::nth_element(values->begin(), it, values->end());
  return *it;
}

}  // namespace

int RemoveSpikes(cv::Mat* frame, double threshold_sigma) {
  if (frame == nullptr || frame->type() != CV_32FC1 || frame->rows < 3 || frame->cols < 3) {
    return 0;
  }
  cv::Mat median;
  cv::medianBlur(*frame, median, 3);
  cv::Mat residual = *frame - median;
  std::vector<float> abs_residual = Sample(residual, /*absolute=*/true);
  double sigma = 1.4826 * Quantile(&abs_residual, 0.5);
  if (!(sigma > 0)) {
    // Most pixels equal their neighbourhood's median (very low counts, flat or quantised
    // frames): fall back to the residual's standard deviation.
    cv::Scalar mean, stddev;
    cv::meanStdDev(residual, mean, stddev);
    sigma = stddev[0];
  }
  if (!(sigma > 0) || !std::isfinite(sigma)) return 0;
  // A local outlier is not enough: at coarse sampling and high dose, gold atom columns and
  // 4-pixel fringes differ from their 3x3 median by far more than the noise. A spike must also
  // lie outside the range the bulk of the frame spans (0.1%..99.9% quantiles, widened by that
  // span on each side), which lattice contrast never leaves and x-ray hits (10-100x the mean
  // count) always do.
  std::vector<float> values = Sample(*frame, /*absolute=*/false);
  const double lo = Quantile(&values, 0.001);
  const double hi = Quantile(&values, 0.999);
  const double span = std::max(hi - lo, 1e-12);
  const float upper = static_cast<float>(hi + span), lower = static_cast<float>(lo - span);
  const float limit = static_cast<float>(threshold_sigma * sigma);
  int replaced = 0;
  for (int r = 0; r < frame->rows; ++r) {
    float* f = frame->ptr<float>(r);
    const float* m = median.ptr<float>(r);
    const float* d = residual.ptr<float>(r);
    for (int c = 0; c < frame->cols; ++c) {
      if (std::abs(d[c]) > limit && (f[c] > upper || f[c] < lower)) {
        f[c] = m[c];
        ++replaced;
      }
    }
  }
  return replaced;
}

}  // namespace fringe
