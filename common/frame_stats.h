// Whole-frame statistics for standardisation, shared by the server (tiling a frame) and the
// client (cutting a huge frame into pieces), so both standardise identically.
#ifndef FRINGE_COMMON_FRAME_STATS_H_
#define FRINGE_COMMON_FRAME_STATS_H_

#include <opencv2/core.hpp>

namespace fringe {

struct FrameStats {
  double mean = 0.0;
  double stddev = 1.0;
};

// Mean and standard deviation of a single-channel frame (any depth); a constant frame gets
// stddev 1 so that standardising it gives zeros rather than NaN.
FrameStats ComputeFrameStats(const cv::Mat& frame);

// (frame - mean) / stddev as CV_32F; requires stats.stddev > 0.
cv::Mat Standardise(const cv::Mat& frame, const FrameStats& stats);

}  // namespace fringe

#endif  // FRINGE_COMMON_FRAME_STATS_H_
