#include "common/frame_stats.h"

namespace fringe {

FrameStats ComputeFrameStats(const cv::Mat& frame) {
  cv::Scalar mean, stddev;
  cv::meanStdDev(frame, mean, stddev);
  FrameStats stats{mean[0], stddev[0]};
  if (!(stats.stddev > 1e-12)) stats.stddev = 1.0;
  return stats;
}

cv::Mat Standardise(const cv::Mat& frame, const FrameStats& stats) {
  cv::Mat out;
  frame.convertTo(out, CV_32F, 1.0 / stats.stddev, -stats.mean / stats.stddev);
  return out;
}

}  // namespace fringe
