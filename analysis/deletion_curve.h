// Deletion and insertion curves ("pixel flipping", Samek et al. 2017; Petsiuk et al. 2018):
// a quantitative check of an explanation. The frame is cut into square patches, ordered by
// the relevance they hold (most relevant first). Deletion replaces them, in that order, with a
// reference (baseline) image and records the model's score after each step: a faithful
// explanation makes the score fall fast (small area under the curve). Insertion starts from
// the reference and puts the frame's patches back in the same order: the score should rise
// fast (large area). A random ordering is the floor every method must beat.
//
// Torch-free: the model enters as a FrameScorer, so the curves can be tested on hand-built
// functions whose right answer is known.
#ifndef FRINGE_ANALYSIS_DELETION_CURVE_H_
#define FRINGE_ANALYSIS_DELETION_CURVE_H_

#include <cstdint>
#include <functional>
#include <opencv2/core.hpp>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace fringe::analysis {

// Scores a batch of frames (all of one size and type): one number per frame, the quantity
// whose explanation is being checked.
using FrameScorer =
    std::function<absl::StatusOr<std::vector<double>>(const std::vector<cv::Mat>& frames)>;

// Number of patch x patch squares covering a frame of `size` (partial squares at the right
// and bottom edges count as patches).
int PatchCount(cv::Size size, int patch);
// The frame rectangle of patch `index` (raster order), clipped to the frame.
cv::Rect PatchRect(cv::Size size, int patch, int index);

// Patch indices ordered by the summed relevance inside each patch, largest first; ties keep
// raster order. `relevance` is single-channel (any depth); NaN counts as 0.
std::vector<int> OrderPatchesByRelevance(const cv::Mat& relevance, int patch);

// A permutation of 0..count-1 that depends only on `seed` (portable: its own generator, not
// std::shuffle's implementation-defined algorithm).
std::vector<int> RandomPatchOrder(int count, uint64_t seed);

// Area under y(x) by the trapezoid rule; x must be non-decreasing and the sizes equal
// (0 for fewer than two points).
double TrapezoidAuc(const std::vector<double>& x, const std::vector<double>& y);

struct PerturbationCurve {
  std::vector<double> fraction;  // Of the patches perturbed: 0, 1/steps, ..., 1.
  std::vector<double> score;     // The scorer's raw value at each point.
  // (score - reference_score) / (full_score - reference_score): 1 = as for the frame, 0 = as
  // for the reference, whatever the sign or scale of the raw score.
  std::vector<double> normalised;
  double auc = 0;  // TrapezoidAuc(fraction, normalised).
  // score / full_score: the curve relative to the unperturbed value alone. Unlike
  // `normalised` it stays well-conditioned when the reference keeps most of the score (a
  // reference the model barely notices), at the price of depending on the reference's level.
  std::vector<double> relative;
  double relative_auc = 0;  // TrapezoidAuc(fraction, relative).
};

struct DeletionInsertion {
  PerturbationCurve deletion, insertion;
  double full_score = 0;       // Score of the unperturbed frame.
  double reference_score = 0;  // Score of the reference (every patch replaced).
};

struct PixelFlippingOptions {
  int patch = 8;   // Patch side in pixels.
  int steps = 16;  // Curve points after the first: fraction k / steps, k = 0..steps.
  int batch = 4;   // Frames per scorer call.
};

// Runs both curves for one ordering. `frame` and `reference` are single-channel CV_32F of one
// size; only the pixels inside `region` (the whole frame when empty) are patched, which lets a
// caller keep padding untouched. The step k perturbs the first round(k * n / steps) patches
// of `order` (n = its length, which must be a permutation of the region's patches).
// `full_score` / `reference_score`, when given, skip re-scoring the two end points (shared by
// every ordering of one frame). INVALID_ARGUMENT for bad inputs or when the full and reference
// scores are equal (the curves cannot be normalised) or the full score is 0 (no relative
// curve); the scorer's errors pass through.
absl::StatusOr<DeletionInsertion> RunDeletionInsertion(
    const cv::Mat& frame, const cv::Mat& reference, const std::vector<int>& order,
    const PixelFlippingOptions& options, const FrameScorer& scorer, cv::Rect region = cv::Rect(),
    const double* full_score = nullptr, const double* reference_score = nullptr);

// Point-wise mean of curves with the same fractions (e.g. random orderings of one frame, or
// one method over frames); the AUC of the mean is the mean of the AUCs. Empty input gives an
// empty curve.
PerturbationCurve MeanCurve(const std::vector<PerturbationCurve>& curves);

}  // namespace fringe::analysis

#endif  // FRINGE_ANALYSIS_DELETION_CURVE_H_
