#include "common/spike_filter.h"

#include <algorithm>
#include <cmath>
#include <opencv2/imgproc.hpp>
#include <vector>

namespace fringe {
namespace {

// Median of |residual| over (a sample of) the frame: every pixel for frames up to 1 Mpx,
// a regular grid beyond that (the MAD of a 4096x4096 frame needs no 16 M-element sort).
double MedianAbsolute(const cv::Mat& residual) {
  const size_t n = residual.total();
  const size_t stride = std::max<size_t>(1, n / (1 << 20));
  std::vector<float> values;
  values.reserve(n / stride + 1);
  for (int r = 0; r < residual.rows; ++r) {
    const float* row = residual.ptr<float>(r);
    for (int c = static_cast<int>((static_cast<size_t>(r) * residual.cols) % stride);
         c < residual.cols; c += static_cast<int>(stride)) {
      values.push_back(std::abs(row[c]));
    }
  }
  if (values.empty()) return 0;
  auto mid = values.begin() + values.size() / 2;
  std::nth_element(values.begin(), mid, values.end());
  return *mid;
}

}  // namespace

int RemoveSpikes(cv::Mat* frame, double threshold_sigma) {
  if (frame == nullptr || frame->type() != CV_32FC1 || frame->rows < 3 || frame->cols < 3) {
    return 0;
  }
  cv::Mat median;
  cv::medianBlur(*frame, median, 3);
  cv::Mat residual = *frame - median;
  double sigma = 1.4826 * MedianAbsolute(residual);
  if (!(sigma > 0)) {
    // Most pixels equal their neighbourhood's median (very low counts, flat or quantised
    // frames): fall back to the residual's standard deviation.
    cv::Scalar mean, stddev;
    cv::meanStdDev(residual, mean, stddev);
    sigma = stddev[0];
  }
  if (!(sigma > 0) || !std::isfinite(sigma)) return 0;
  const float limit = static_cast<float>(threshold_sigma * sigma);
  int replaced = 0;
  for (int r = 0; r < frame->rows; ++r) {
    float* f = frame->ptr<float>(r);
    const float* m = median.ptr<float>(r);
    const float* d = residual.ptr<float>(r);
    for (int c = 0; c < frame->cols; ++c) {
      if (std::abs(d[c]) > limit) {
        f[c] = m[c];
        ++replaced;
      }
    }
  }
  return replaced;
}

}  // namespace fringe
