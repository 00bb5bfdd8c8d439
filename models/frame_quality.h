// Knowing when not to trust a mask: per-frame quality signals computed from a segmentation's
// own outputs and the frame, returned with every response, shown by the CLI and exported as
// metrics. No ground truth needed.
//
//   particle_fraction  share of pixels predicted particle. Simulated training frames hold
//                      0-40%; far more usually means the model mistook the support film.
//   mean_entropy_bits  mean predictive entropy over the frame (bits per pixel, divided by
//                      log2 of the class count: 0 = certain everywhere, 1 = a coin flip).
//   lattice_contrast   mean Au lattice-band energy (lattice_band.h) inside the predicted
//                      particles over that in the background. A crystalline gold particle near
//                      a zone axis carries fringe power; amorphous carbon mistaken for gold
//                      does not (ratio ~1). The band-pass baseline measures the same thing.
//
// out_of_domain is set, with a reason each, when
//   - the frame's pixel size is beyond the resampling range (common/pixel_scale.h), or
//   - more than half the frame is predicted particle, or
//   - the mean entropy exceeds 0.3 bits, or
//   - the predicted particles carry less Au lattice-band power than 1.15x the background AND
//     the model is not sure of itself (mean entropy > 0.15 bits).
// The lattice check alone does not flag a frame: gold particles off a zone axis show no
// fringes either (a quarter of fringe-sim's held-out frames, whose particles are 30% randomly
// oriented, fall below 1.15), so missing fringes only count together with uncertainty.
// Calibrated on 24-frame sets of fringe-sim and the held-out generator
// (docs/results/robustness/README.md gives the rates: e.g. for default:1 the flag caught 13 of
// its 16 failed frames of the held-out generator and raised 1 false alarm in 24 classic frames).

#ifndef FRINGE_MODELS_FRAME_QUALITY_H_
#define FRINGE_MODELS_FRAME_QUALITY_H_

#include <opencv2/core.hpp>
#include <string>
#include <vector>

#include "common/pixel_scale.h"

namespace fringe {

struct FrameQualityThresholds {
  double max_particle_fraction = 0.5;
  double max_mean_entropy_bits = 0.3;
  // The lattice check runs when at least this share of the frame is predicted particle ...
  double lattice_min_particle_fraction = 0.005;
  // ... and flags the frame when the particles' lattice contrast falls below this while the
  // mean entropy is above lattice_entropy_bits.
  double min_lattice_contrast = 1.15;
  double lattice_entropy_bits = 0.15;
};

struct FrameQuality {
  double particle_fraction = 0;
  double mean_entropy_bits = 0;
  bool lattice_checked = false;  // False without a pixel size or with too few particle pixels.
  double lattice_contrast = 0;
  bool out_of_domain = false;
  std::vector<std::string> reasons;  // One sentence per tripped threshold.
};

// Assesses one frame at the scale the model saw it. `standardised` is the network input
// (CV_32F, zero mean, unit variance), `class_probabilities` one CV_32F map per class and `mask`
// the CV_8U argmax (class 1 = particle), all of the same size; `pixel_size_nm` is that of
// `standardised` (0 = unknown: no lattice check); `scale` says how the frame was brought there.
// Frames larger than 2048 px on a side are lattice-checked on their central 2048x2048 window.
FrameQuality AssessFrame(const cv::Mat& standardised,
                         const std::vector<cv::Mat>& class_probabilities, const cv::Mat& mask,
                         double pixel_size_nm, const ScalePlan& scale,
                         const FrameQualityThresholds& thresholds = {});

}  // namespace fringe

#endif  // FRINGE_MODELS_FRAME_QUALITY_H_
