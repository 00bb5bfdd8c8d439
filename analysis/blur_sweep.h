// The blur sweep (Horwath et al. 2019): segmentation quality against a Gaussian blur of the
// input. Lattice fringes (0.2-0.24 nm, ~10 px at 0.02 nm/px) are the finest structure in an
// HRTEM frame, so a blur of sigma pixels removes them first: a Gaussian passes frequency f
// (cycles/px) with gain exp(-2 pi^2 sigma^2 f^2). A network whose Dice falls as the fringes go
// relies on the fringes; one that holds up uses the coarser particle contrast.
// Torch-free: the model enters as a FrameSegmentFn.
#ifndef FRINGE_ANALYSIS_BLUR_SWEEP_H_
#define FRINGE_ANALYSIS_BLUR_SWEEP_H_

#include <functional>
#include <opencv2/core.hpp>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/segmentation_metrics.h"

namespace fringe::analysis {

// Segments one frame (raw pixels, CV_32F): a mask of its size, non-zero = particle.
using FrameSegmentFn = std::function<absl::StatusOr<cv::Mat>(const cv::Mat& frame)>;

// The frame blurred with a Gaussian of `sigma` pixels (CV_32F; reflecting borders, so the
// edges do not darken); sigma <= 0 returns the frame unchanged (as CV_32F).
cv::Mat BlurFrame(const cv::Mat& frame, double sigma);

// Amplitude gain of that Gaussian at frequency f cycles/px: exp(-2 pi^2 sigma^2 f^2).
double GaussianGain(double sigma, double frequency);

// One frame's result at every sigma.
struct BlurSweepFrame {
  std::string stem;
  std::optional<double> dose;
  std::vector<ConfusionCounts> counts;  // Per sigma, in the order given.
};

// Segments `frame` blurred by each sigma and compares with `truth` (non-zero = particle).
absl::StatusOr<BlurSweepFrame> RunBlurSweepOnFrame(const cv::Mat& frame, const cv::Mat& truth,
                                                   const std::vector<double>& sigmas,
                                                   const FrameSegmentFn& segment);

struct BlurSweepPoint {
  double sigma = 0;
  double mean_dice = 0, std_dice = 0;  // Over frames (sample std).
  double pooled_dice = 0;              // Of the counts summed over frames.
  double mean_predicted_fraction = 0;  // Share of pixels predicted particle.
  int frames = 0;
};

std::vector<BlurSweepPoint> SummarizeBlurSweep(const std::vector<BlurSweepFrame>& frames,
                                               const std::vector<double>& sigmas);

// "stem,dose,sigma_px,dice,iou,precision,recall,predicted_fraction"
std::string FormatBlurSweepCsv(const std::vector<BlurSweepFrame>& frames,
                               const std::vector<double>& sigmas);
// Summary, sigmas, the fringe gains and per-frame Dice as indented JSON.
std::string FormatBlurSweepJson(const std::vector<BlurSweepPoint>& points,
                                const std::vector<BlurSweepFrame>& frames, const std::string& model,
                                double pixel_size_nm);

// Mean Dice (±1 std band) and pooled Dice against sigma; with pixel_size_nm > 0 also the
// Gaussian's gain at the Au {111} and {200} fringe frequencies (dashed), on the same 0..1 axis.
cv::Mat RenderBlurSweepPlot(const std::vector<BlurSweepPoint>& points, double pixel_size_nm,
                            const std::string& title);

}  // namespace fringe::analysis

#endif  // FRINGE_ANALYSIS_BLUR_SWEEP_H_
