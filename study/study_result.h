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
  std::string command;          // The exact command that produced the run.
  double minutes_per_candidate = 0;
  std::string held_out;         // One line: how many frames, sizes, doses, seed.
  std::string machine;          // e.g. "2 CPU cores, LibTorch intra-op threads 2".
  std::string git_revision;
  std::string date;
  // Spectrum of the explained input frames (for the spectra plot); optional.
  std::optional<analysis::RadialSpectrum> input_spectrum;
};

std::string StudyMarkdown(const StudyContext& context, const std::vector<CandidateResult>& results);
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
