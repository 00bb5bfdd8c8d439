// Deletion/insertion curves of several attribution methods on a model run locally: the
// model-driven half of `fringe analyze deletion` (the curves themselves are in
// deletion_curve.h). For each frame:
//  - the frame is standardised and padded as serving does (PrepareFrame);
//  - the target T is the attribution engine's kMask target over the frame's originally
//    predicted region M of `class_index`: T(x) = sum over M of logit_c(x) (or of the contrast
//    logit_c - mean of the others with `contrastive`); M stays fixed while x is perturbed, so
//    T measures how much evidence for "particle" on the particles is left;
//  - every method explains that T; its relevance, summed over patches, orders the patches
//    (most relevant first); "random" uses random orders, averaged over several seeds;
//  - deleted patches take the reference's values: "mean" = 0, the frame mean after
//    standardisation (a flat grey patch), or "blur" = the standardised frame blurred with a
//    Gaussian of `blur_sigma` pixels (removes the lattice fringes, keeps the local contrast);
//  - curves are normalised to the frame's and the reference's T (1 and 0), and also given
//    relative to the frame's T alone (T / T(x)), which stays meaningful when the reference
//    keeps most of T (then the first normalisation divides by a small difference).
// Frames with an empty predicted region have nothing to explain and are skipped (reported).
#ifndef FRINGE_ANALYSIS_DELETION_STUDY_H_
#define FRINGE_ANALYSIS_DELETION_STUDY_H_

#include <functional>
#include <map>
#include <opencv2/core.hpp>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "analysis/deletion_curve.h"
#include "analysis/local_model.h"

namespace fringe::analysis {

// One ordering to evaluate. Parsed from "[abs:|signed:]METHOD" (METHOD any
// KnownAttributionMethods() name, with '_' accepted for '-', or "random").
struct DeletionMethod {
  std::string label;   // As given on the command line, normalised ("gradient-x-input").
  std::string method;  // Attribution method name, or "random".
  std::map<std::string, std::string> parameters;
  // Rank patches by |relevance| instead of signed relevance. Default on for "gradient" and
  // "smoothgrad": their sign says in which direction a pixel would move T, not whether it
  // contributed, so their patches are ranked by sensitivity (Samek et al. 2017's "sensitivity
  // analysis"); "signed:gradient" ranks by the signed gradient instead.
  bool absolute = false;
};

// Parses a comma-separated method list; `parameters` holds "METHOD.KEY=VALUE" entries that go
// to every listed method of that name (e.g. "integrated-gradients.steps=16"). INVALID_ARGUMENT
// for unknown methods, duplicates, malformed or unused parameters.
absl::StatusOr<std::vector<DeletionMethod>> ParseDeletionMethods(
    const std::string& list, const std::vector<std::string>& parameters);

struct DeletionStudyOptions {
  PixelFlippingOptions flipping;
  std::string reference = "mean";  // "mean" or "blur".
  double blur_sigma = 4.0;         // Pixels, for reference "blur".
  int random_seeds = 3;            // Random orders per frame, seeds seed_base .. + n - 1.
  uint64_t seed_base = 1;
  int class_index = 1;
  bool contrastive = false;
  bool keep_maps = false;  // Keep each method's relevance map in the result (for figures).
};

struct MethodOnFrame {
  bool random = false;
  DeletionInsertion curves;     // For "random": point-wise means over the seeds.
  double explain_ms = 0;        // 0 for random.
  double explained_target = 0;  // The engine's T (checks it explained the scored quantity).
  double relevance_sum = 0;
  cv::Mat relevance;  // Frame-sized, only with keep_maps.
};

struct FrameDeletionResult {
  std::string stem;
  bool skipped = false;  // Empty predicted region.
  int predicted_pixels = 0;
  int patches = 0;
  double full_score = 0, reference_score = 0;
  std::map<std::string, MethodOnFrame> methods;  // By label.
};

// Runs every method on one frame (raw pixels, any depth). `progress` (optional) is called
// after each method with its label.
absl::StatusOr<FrameDeletionResult> RunDeletionStudyOnFrame(
    const LocalModel& model, const cv::Mat& frame, const std::string& stem,
    const std::vector<DeletionMethod>& methods, const DeletionStudyOptions& options,
    const std::function<void(const std::string&)>& progress = nullptr);

struct MeanStd {
  double mean = 0, std = 0;  // std: sample standard deviation (n - 1), 0 for n < 2.
  int n = 0;
};
MeanStd ComputeMeanStd(const std::vector<double>& values);

struct DeletionMethodSummary {
  std::string label;
  MeanStd deletion_auc, insertion_auc;
  MeanStd deletion_relative_auc, insertion_relative_auc;  // Of T / T(x).
  double mean_explain_ms = 0;
  // Mean and std over frames of the normalised curves, point by point.
  std::vector<double> fraction;
  std::vector<double> deletion_mean, deletion_std, insertion_mean, insertion_std;
};

// A paired comparison of two methods over the frames both ran on: differences a - b of the
// AUCs. For deletion a negative mean favours a, for insertion a positive one.
struct PairedComparison {
  std::string a, b;
  MeanStd deletion_difference, insertion_difference;
  int deletion_wins = 0;   // Frames where a's deletion AUC < b's.
  int insertion_wins = 0;  // Frames where a's insertion AUC > b's.
  // mean / (std / sqrt(n)): a paired t statistic (0 when std is 0 or n < 2).
  double deletion_t = 0, insertion_t = 0;
};

std::vector<DeletionMethodSummary> SummarizeDeletionStudy(
    const std::vector<FrameDeletionResult>& frames, const std::vector<DeletionMethod>& methods);
// Mean over the frames used of reference_score / full_score: how much of the target the
// reference keeps. Near 1 the normalised curves are ill-conditioned (read the T / T(x) ones).
MeanStd ReferenceRetention(const std::vector<FrameDeletionResult>& frames);
PairedComparison CompareMethods(const std::vector<FrameDeletionResult>& frames,
                                const std::string& a, const std::string& b);

// Per-frame table: "stem,method,deletion_auc,insertion_auc,full_score,reference_score,
// predicted_pixels,explain_ms,explained_target,relevance_sum,deletion_relative_auc,
// insertion_relative_auc" (skipped frames: one row with method "skipped").
std::string FormatDeletionFramesCsv(const std::vector<FrameDeletionResult>& frames);
// Mean curves: "method,curve,fraction,mean,std".
std::string FormatDeletionCurvesCsv(const std::vector<DeletionMethodSummary>& summaries);
// Markdown table: method | deletion AUC | insertion AUC | both AUCs of T / T(x) | frames |
// ms, as mean ± std over frames.
std::string FormatDeletionMarkdown(const std::vector<DeletionMethodSummary>& summaries);
// Everything above plus options, model and comparisons, as indented JSON.
std::string FormatDeletionJson(const std::vector<FrameDeletionResult>& frames,
                               const std::vector<DeletionMethodSummary>& summaries,
                               const std::vector<PairedComparison>& comparisons,
                               const std::vector<DeletionMethod>& methods,
                               const DeletionStudyOptions& options, const std::string& model);
// The mean curves of every method with a ±1 std band; `insertion` picks the curve.
cv::Mat RenderDeletionPlot(const std::vector<DeletionMethodSummary>& summaries, bool insertion,
                           const std::string& title);

}  // namespace fringe::analysis

#endif  // FRINGE_ANALYSIS_DELETION_STUDY_H_
