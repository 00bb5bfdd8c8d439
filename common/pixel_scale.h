// Pixel-size-aware inference: a network sees lattice fringes and particles at the scale it was
// trained at, so a frame whose pixel size is known is resampled to the model's pixel size
// before segmentation and its outputs back to the frame's size afterwards. Used by the
// server's engines, the trainer's scale augmentation (so training sees exactly the
// interpolation serving applies) and the local analysis tools. OpenCV only.
#ifndef FRINGE_COMMON_PIXEL_SCALE_H_
#define FRINGE_COMMON_PIXEL_SCALE_H_

#include <opencv2/core.hpp>
#include <string>

namespace fringe {

// Physical pixel size per axis (x along a row, y down a column), nm; 0 = unknown.
struct PixelSize {
  double x_nm = 0.0;
  double y_nm = 0.0;
  bool known() const { return x_nm > 0.0 && y_nm > 0.0; }
};

// Resampling is allowed within this factor either way (e.g. 0.0056-0.09 nm/px for a model
// trained at 0.0225); outside it a frame is served as it is, flagged out of domain.
inline constexpr double kMaxResampleFactor = 4.0;
// Frames within this relative difference of the model's pixel size are not resampled: an
// interpolation costs more than a 2% scale error.
inline constexpr double kNativeScaleTolerance = 0.02;

enum class ScaleDecision {
  kNative,            // Pixel size matches the model's (or the model records none): as is.
  kResampled,         // Resampled to the model's pixel size and back.
  kUnknownPixelSize,  // The frame's pixel size is unknown: as is, with a warning.
  kOutOfRange,        // Known but beyond kMaxResampleFactor: as is, with a warning.
};

struct ScalePlan {
  ScaleDecision decision = ScaleDecision::kNative;
  cv::Size frame_size;  // The input's size.
  cv::Size model_size;  // The size the network sees (== frame_size unless resampled).
  // Model pixels per frame pixel along x and y (frame pixel size / model pixel size).
  double factor_x = 1.0;
  double factor_y = 1.0;
  // Human-readable warning for kUnknownPixelSize / kOutOfRange, empty otherwise.
  std::string warning;
  bool resampled() const { return decision == ScaleDecision::kResampled; }
};

// Decides how a frame of `frame_size` with pixel size `frame` is brought to a model trained at
// `model_pixel_nm` (0 = the model records no pixel size: always kNative, never resampled).
// `max_factor` >= 1 bounds the resampling factor per axis.
ScalePlan PlanScale(cv::Size frame_size, PixelSize frame, double model_pixel_nm,
                    double max_factor = kMaxResampleFactor);

// Resizes a single-channel CV_32F image to `size`, each axis on its own: anti-aliased when
// shrinking (area averaging), bicubic when enlarging. An axis that shrinks while the other
// grows is done in two passes.
cv::Mat ResampleImage(const cv::Mat& image, cv::Size size);

// Resizes a map of probabilities or relevance (CV_32F) to `size`: area averaging when
// shrinking, bilinear when enlarging (never overshoots [0, 1] for probabilities).
cv::Mat ResampleMap(const cv::Mat& map, cv::Size size);

// The frame as the network should see it: ResampleImage(frame, plan.model_size) when
// plan.resampled(), else frame itself (not copied).
cv::Mat ToModelScale(const cv::Mat& frame, const ScalePlan& plan);

// A model-scale map back at the frame's size: ResampleMap(map, plan.frame_size) when
// plan.resampled(), else map itself.
cv::Mat ToFrameScale(const cv::Mat& map, const ScalePlan& plan);

}  // namespace fringe

#endif  // FRINGE_COMMON_PIXEL_SCALE_H_
