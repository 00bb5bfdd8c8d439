// What fringe-study measures for one candidate, and the report made of all of them: the
// markdown and CSV tables and the PNG plots (Dice vs dose, Dice vs receptive field, relevance
// spectra). Pure functions of the results (no training, no I/O), so tests can check the report
// on hand-made numbers. Torch-free header.
#ifndef FRINGE_STUDY_STUDY_RESULT_H_
#define FRINGE_STUDY_STUDY_RESULT_H_

#include <array>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "analysis/relevance_spectrum.h"
#include "common/segmentation_metrics.h"

namespace fringe::study {

// One candidate on one named evaluation set (StudyConfig.evaluation_sets).
struct SetResult {
  std::string set;
  std::string kind;             // "synthetic", "labelled", "unlabelled".
  std::string status = "done";  // Or "skipped: ..." (an optional set that is absent).
  int frames = 0;
  // Labelled sets (synthetic and folders): means over frames and pooled Dice.
  bool labelled = true;
  double dice = 0, precision = 0, recall = 0, pooled_dice = 0;
  // Every set: the share of all scored pixels that are marked particle but are background in
  // truth (unlabelled sets with expect_no_particles: every marked pixel), mean over frames.
  double false_positive_area = 0;
  double max_false_positive_area = 0;  // The worst frame.
  std::vector<std::string> montages;   // PNG files, relative to the study's folder.
};

nlohmann::json ToJson(const SetResult& result);
absl::StatusOr<SetResult> SetResultFromJson(const nlohmann::json& json);

struct CandidateResult {
  std::string name;
  std::string description;
  std::string architecture;  // "unet", "fcn8s", "fourier-bandpass".
  // "done", or why the candidate has no numbers ("skipped: ...", "failed: ...").
  std::string status = "done";
  std::string version_dir;

  int64_t parameters = 0;
  std::optional<int64_t> macs;  // Per latency tile; empty for a model that is not a network.
  int latency_tile = 0;
  std::optional<int64_t> receptive_field_px;  // Empty for the Fourier baseline (whole frame).
  std::optional<double> receptive_field_nm;

  // Training (zero for an untrained candidate).
  int64_t steps = 0;
  int64_t best_step = 0;
  double training_seconds = 0;
  double best_validation_dice = 0;

  // Held-out evaluation: means over frames, and Dice pooled over all pixels.
  int frames = 0;
  double dice = 0, iou = 0, f1 = 0, precision = 0, recall = 0, pooled_dice = 0;
  std::array<std::optional<double>, kNumDoseBins> dice_by_dose{};  // Mean Dice per DoseBin.
  std::array<int, kNumDoseBins> frames_by_dose{};
  std::vector<std::pair<double, double>> dose_dice;  // (dose, Dice) of every frame.

  std::optional<double> latency_ms;  // Median CPU time of one tile through Predict.
  int threads = 0;

  // Relevance spectra (mean over the explained frames, each normalised to mean 1).
  std::optional<analysis::RadialSpectrum> relevance_spectrum;
  std::vector<double> relevance_spectrum_std;
  int spectrum_frames = 0;
  std::optional<double> au_band_contrast;  // SpectrumSummary.au_band_contrast of the mean.
  std::string spectrum_method;

  // Robustness study: how the candidate's training data was randomised, and its results on
  // the named evaluation sets.
  bool randomized = false;
  std::vector<std::string> factors_left_out;
  std::vector<SetResult> sets;
};

nlohmann::json ToJson(const CandidateResult& result);
// INVALID_ARGUMENT naming the missing or mistyped field.
absl::StatusOr<CandidateResult> CandidateResultFromJson(const nlohmann::json& json);

// Fills the held-out numbers from per-frame evaluations (dose may be unknown for a frame).
struct FrameScore {
  std::optional<double> dose;
  ConfusionCounts counts;
};
void SummarizeFrames(const std::vector<FrameScore>& frames, CandidateResult* result);

// Everything the report states besides the candidates.
struct StudyContext {
  std::string title;
  std::string command;  // The exact command that produced the run.
  double minutes_per_candidate = 0;
  std::string held_out;  // One line: how many frames, sizes, doses, seed.
  std::string machine;   // e.g. "2 CPU cores, LibTorch intra-op threads 2".
  std::string git_revision;
  std::string date;
  // Spectrum of the explained input frames (for the spectra plot); optional.
  std::optional<analysis::RadialSpectrum> input_spectrum;
};

std::string StudyMarkdown(const StudyContext& context, const std::vector<CandidateResult>& results);

// The evaluation-set tables (one per set, in `set_order`; `set_descriptions` one line each),
// with the held-out-physics matrix column "cost of leaving X out" = Dice of the reference
// (randomized, nothing left out) minus the candidate's Dice on that set. Empty without sets.
std::string EvaluationSetsMarkdown(const std::vector<std::string>& set_order,
                                   const std::vector<std::string>& set_descriptions,
                                   const std::vector<CandidateResult>& results);
// Long form: candidate,set,kind,status,frames,dice,precision,recall,pooled_dice,
// false_positive_area,max_false_positive_area,factors_left_out,cost_of_leaving_out.
std::string EvaluationSetsCsv(const std::vector<CandidateResult>& results);
// The reference of the matrix (randomized, nothing left out, done), if any.
const CandidateResult* MatrixReference(const std::vector<CandidateResult>& results);
// Reference Dice minus the candidate's on `set`; empty when either has no Dice there, the
// candidate is the reference or leaves nothing out.
std::optional<double> CostOfLeavingOut(const std::vector<CandidateResult>& results,
                                       const CandidateResult& candidate, const std::string& set);
std::string StudyCsv(const std::vector<CandidateResult>& results);

// Mean Dice per dose interval (edges in e/A^2) and candidate, x at the interval's geometric
// centre; intervals without a frame are left out of that candidate's line.
cv::Mat RenderDiceVsDose(const std::vector<CandidateResult>& results,
                         const std::vector<double>& dose_edges);
// Held-out Dice against the receptive field in nanometres, one marker per network.
cv::Mat RenderDiceVsReceptiveField(const std::vector<CandidateResult>& results);
// Each network's mean relevance spectrum (and the input's), Au fringes marked.
cv::Mat RenderRelevanceSpectra(const StudyContext& context,
                               const std::vector<CandidateResult>& results);
std::string RelevanceSpectraCsv(const StudyContext& context,
                                const std::vector<CandidateResult>& results);

}  // namespace fringe::study

#endif  // FRINGE_STUDY_STUDY_RESULT_H_
