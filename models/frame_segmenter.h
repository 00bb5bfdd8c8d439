// Runs a Segmenter over a whole frame of any size: normalise with whole-frame statistics,
// cut into overlapping tiles, batch them through the network and stitch the owned centre of
// every tile back (see common/tile_grid.h), so the output has the frame's size.
#ifndef FRINGE_MODELS_FRAME_SEGMENTER_H_
#define FRINGE_MODELS_FRAME_SEGMENTER_H_

#include <opencv2/core.hpp>
#include <optional>
#include <vector>

#include "absl/status/statusor.h"
#include "common/frame_stats.h"
#include "models/segmenter.h"

namespace fringe {

struct FrameSegmenterOptions {
  int tile_size = 512;
  int tile_margin = 32;
  int max_batch = 4;        // Tiles per Predict call.
  bool standardize = true;  // Zero mean, unit variance over the whole frame.
  // Use these statistics instead of the frame's own (client-side tiling of huge frames).
  std::optional<FrameStats> statistics;
};

struct FrameOutput {
  std::vector<cv::Mat> class_probabilities;  // One CV_32F map per class, frame-sized.
  cv::Mat mask;                              // CV_8U argmax class per pixel.
  int tiles = 0;
};

// Segments `frame` (CV_32F, single channel, any size >= 1x1). Tiles are at most
// options.tile_size, shrunk to the frame (rounded up to the model's input multiple) for small
// frames; padding beyond the frame is zero (the mean after standardisation).
absl::StatusOr<FrameOutput> SegmentFrame(const Segmenter& model, const cv::Mat& frame,
                                         const FrameSegmenterOptions& options);

// One frame of a batch: the image and, optionally, statistics to standardise it with.
struct FrameInput {
  cv::Mat frame;
  std::optional<FrameStats> statistics;
};

// Segments several frames of the same size in one go: their tiles are pooled into network
// calls of up to options.max_batch, so single-tile frames from different requests share one
// call (the scheduler's dynamic batching). options.statistics is ignored; each input carries
// its own. Results are in input order and equal SegmentFrame's for each frame.
absl::StatusOr<std::vector<FrameOutput>> SegmentFrames(const Segmenter& model,
                                                       const std::vector<FrameInput>& frames,
                                                       const FrameSegmenterOptions& options);

// Class index of the most probable class per pixel (CV_8U, the maps' size); ties go to the lower
// index (background). Empty for no maps.
cv::Mat ArgmaxMask(const std::vector<cv::Mat>& class_probabilities);

}  // namespace fringe

#endif  // FRINGE_MODELS_FRAME_SEGMENTER_H_
