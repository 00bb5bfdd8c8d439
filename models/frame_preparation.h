// What happens to a decoded frame before the network sees it, in one place for every path
// that runs a model on a frame (Segment, SegmentStream tiles, Explain, the local analysis
// tools): x-ray spikes out (common/spike_filter.h), then resampled to the model's pixel size
// (common/pixel_scale.h). Warnings for the response are collected here too.
#ifndef FRINGE_MODELS_FRAME_PREPARATION_H_
#define FRINGE_MODELS_FRAME_PREPARATION_H_

#include <opencv2/core.hpp>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "common/pixel_scale.h"
#include "fringe/v1/tensor.pb.h"

namespace fringe {

struct PreparedFrame {
  cv::Mat frame;  // CV_32F at the model's scale, spikes removed; not standardised.
  ScalePlan scale;
  int spikes_removed = 0;
  // The pixel size of `frame` the model sees: the model's when known (resampled, native or
  // assumed for an unknown frame), 0 when the model records none.
  double pixel_size_nm = 0;
  std::vector<std::string> warnings;
};

// The pixel size a request states: Image.pixel_size_nm along x, and along y too unless
// Image.pixel_size_y_nm is set. Non-positive or non-finite values mean unknown.
PixelSize PixelSizeOf(const v1::Image& image);

// Prepares `frame` (CV_32FC1; not modified) for a model trained at `model_pixel_nm`
// (0 = unknown: never resampled). Spikes are removed first unless `remove_spikes` is false
// (a client that sent whole-frame statistics removed them before computing those).
PreparedFrame PrepareFrame(const cv::Mat& frame, PixelSize pixel, double model_pixel_nm,
                           bool remove_spikes = true);

// INVALID_ARGUMENT when the frame at the model's scale would exceed `max_pixels` (a large frame
// at a coarse pixel size grows up to 16x when enlarged to the model's): the message names both
// sizes and says to send smaller pieces. OK otherwise.
absl::Status CheckModelScaleSize(const ScalePlan& plan, int64_t max_pixels);

}  // namespace fringe

#endif  // FRINGE_MODELS_FRAME_PREPARATION_H_
