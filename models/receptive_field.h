// Receptive fields of the segmentation networks: the square of input pixels one output pixel
// depends on. shared/DESIGN.md §3: on HRTEM, Dice rose from 0.72 to 0.78 as the receptive
// field grew from 0.95 to 3.27 nm (plateau from ~1.7-3 nm), and dilation is a cheap way to
// widen it, so the model description reports it in pixels and nanometres. Torch-free header.
#ifndef FRINGE_MODELS_RECEPTIVE_FIELD_H_
#define FRINGE_MODELS_RECEPTIVE_FIELD_H_

#include <cstdint>

#include "absl/status/statusor.h"
#include "fringe/v1/model_config.pb.h"
#include "fringe/v1/models.pb.h"

namespace fringe {

struct ReceptiveField {
  int64_t pixels = 0;     // Side of the square region.
  double nanometres = 0;  // pixels * config.pixel_size_nm(); 0 when the pixel size is unknown.
};

// Input indices [first, last] along one axis (the networks are separable in their
// dependencies: square kernels, same in rows and columns).
struct PixelInterval {
  int64_t first = 0;
  int64_t last = -1;
  int64_t size() const { return last - first + 1; }
  bool operator==(const PixelInterval& o) const { return first == o.first && last == o.last; }
};

// The input interval output index `output_index` depends on, traced backwards through the
// architecture's layers (kernel, stride, padding, dilation, transposed convolutions, crops,
// skip connections) on an unbounded image, i.e. before any clipping at the image border.
// INVALID_ARGUMENT for an invalid config, UNIMPLEMENTED for an architecture that is not a
// convolutional network (fourier-bandpass: its FFT sees the whole frame).
absl::StatusOr<PixelInterval> ReceptiveFieldInterval(const v1::ModelConfig& config,
                                                     int64_t output_index);

// The receptive field of `config`'s network: the largest ReceptiveFieldInterval over one
// period of output positions (2^depth for a U-Net, 32 for FCN8s; where transposed
// convolutions and pools line up differently), with nanometres at the config's pixel size.
// Errors as ReceptiveFieldInterval. Cheap (no network is built): the server calls it for
// Models.Describe.
absl::StatusOr<ReceptiveField> AnalyticReceptiveField(const v1::ModelConfig& config);
// The same with nanometres at `pixel_size_nm` (e.g. a frame's own calibration) instead of the
// config's; 0 when pixel_size_nm <= 0.
absl::StatusOr<ReceptiveField> AnalyticReceptiveField(const v1::ModelConfig& config,
                                                      double pixel_size_nm);

// Fills the API message (proto/fringe/v1/models.proto).
void ReceptiveFieldToProto(const ReceptiveField& field, v1::ReceptiveField* proto);

struct ReceptiveFieldFootprint {
  int image_size = 0;                      // The probe image is image_size x image_size.
  int64_t output_row = 0, output_col = 0;  // The probed (central) output pixel.
  PixelInterval rows, cols;                // Bounding box of its non-zero input gradient.
  // The largest footprint side: of the central pixel, and with ReceptiveFieldProbe::
  // sweep_period of output rows output_row + r, r = 0..period-1, to compare with
  // AnalyticReceptiveField (the field varies with the position inside the period).
  int64_t max_pixels = 0;
  bool clipped = false;  // Some footprint touches the image border (image too small).
};

struct ReceptiveFieldProbe {
  // 0 picks the analytic field plus a margin of 8 periods (nothing the probed pixel depends on
  // sees the zero padding while its footprint is inside the image); otherwise rounded up to
  // the network's input multiple.
  int image_size = 0;
  // Channel counts do not change which pixels an output depends on: probe a 1-2 channel
  // version of the same layer structure (fast even for a full-width FCN8s).
  bool reduce_width = true;
  bool sweep_period = true;
};

// Measures the receptive field empirically: the gradient of one output logit with respect to
// the input, and the bounding box of where it is non-zero. Made robust so the footprint is
// the full dependency region rather than a sample of it: all weights positive and constant
// (1 / fan-in), biases zero, BatchNorm at unit statistics, eval mode (no dropout), and an
// input that grows with the distance from the central output pixel,
// 1 + |i - c| + |j - c|. Every ReLU is then active, and every max-pool window on the way to a
// footprint's edge passes the gradient to its outermost pixel (encoder features stay sums of
// a convex function of the row and one of the column, increasing away from the centre), so
// the extremes of the theoretical region are reached.
absl::StatusOr<ReceptiveFieldFootprint> EmpiricalReceptiveField(
    const v1::ModelConfig& config, const ReceptiveFieldProbe& probe = {});

}  // namespace fringe

#endif  // FRINGE_MODELS_RECEPTIVE_FIELD_H_
