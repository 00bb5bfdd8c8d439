// `fringe eval`: runs a served model over a labelled folder (data/labelled_dataset.h) and
// reports segmentation quality per image, averaged, pooled over all pixels and by electron
// dose, optionally writing eval.csv, eval_summary.json and a Dice-vs-dose plot.
//
// RunEval talks to the server; everything else here is pure (no I/O) so tests can check the
// statistics and the plot on hand-made numbers.
#ifndef FRINGE_CLIENT_CLI_EVAL_COMMAND_H_
#define FRINGE_CLIENT_CLI_EVAL_COMMAND_H_

#include <array>
#include <cstdint>
#include <opencv2/core.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "client/fringe_client.h"
#include "common/segmentation_metrics.h"

namespace fringe {

// The result for one image.
struct ImageEvaluation {
  std::string stem;
  std::optional<double> dose;  // e-/A^2, when the data set states it.
  ConfusionCounts counts;
  SegmentationMetrics metrics;       // ComputeMetrics(counts).
  std::optional<double> compute_ms;  // Server compute time; unknown for client-tiled frames.
  // The response's quality signals (models/frame_quality.h); unknown for client-tiled frames.
  std::optional<v1::FrameQuality> quality;
};

struct DoseBinSummary {
  std::string label;
  int count = 0;
  std::optional<double> mean_dice;  // Empty when count == 0.
};

struct EvalSummary {
  int evaluated = 0;  // Images with a result (failed ones are not in here).
  // Means over images (macro averages); empty when evaluated == 0.
  std::optional<double> mean_dice, mean_iou, mean_precision, mean_recall, mean_f1;
  std::optional<double> mean_compute_ms;  // Over images whose compute time is known.
  // Counts summed over all pixels of all images, and the metrics of that sum (micro).
  ConfusionCounts pooled_counts;
  std::optional<SegmentationMetrics> pooled;  // Empty when evaluated == 0.
  std::array<DoseBinSummary, kNumDoseBins> bins;
  int without_dose = 0;  // Evaluated images with no known dose (in no bin).
};

// Means, pooled metrics and per-bin mean Dice of `results`.
EvalSummary SummarizeEvaluations(const std::vector<ImageEvaluation>& results);

// The model the numbers belong to, as the server reported it.
struct EvalModelInfo {
  std::string name;
  int64_t version = 0;
  bool untrained = false;
  // Other (name, version) pairs that answered some images, e.g. after a reload mid-run.
  std::vector<std::pair<std::string, int64_t>> also_seen;
};

// The table `fringe eval` prints: a header line, one line per image unless `quiet`, then the
// means, the pooled metrics and the per-bin mean Dice (empty bins say "no images").
std::string FormatEvalReport(const std::vector<ImageEvaluation>& results,
                             const EvalSummary& summary, const EvalModelInfo& model,
                             const std::string& data_dir, int failed, bool quiet);

// eval.csv: header "stem,dose,dice,iou,precision,recall,f1,compute_ms" and one row per result,
// in the given order. Unknown dose / compute time are empty cells; stems are quoted (RFC 4180)
// when they hold a comma, quote or newline.
std::string FormatEvalCsv(const std::vector<ImageEvaluation>& results);

// eval_summary.json (2-space indented): data_dir, model {name, version, untrained},
// images/evaluated/failed counts, "mean", "pooled" (metrics and pixel counts), "dose_bins"
// [{label, min, max, count, mean_dice}], images_without_dose and failures [{stem, error}].
// Unknown values are null.
std::string FormatEvalSummaryJson(const EvalSummary& summary, const EvalModelInfo& model,
                                  const std::string& data_dir, int images,
                                  const std::vector<std::pair<std::string, std::string>>& failures);

// The dose axis of the plot: whole decades [10^a, 10^b] with a < b that contain every dose and
// both bin edges, so the bins are always visible. Non-positive doses are ignored.
std::pair<double, double> DoseAxisRange(const std::vector<double>& doses);

// Per-image Dice (filled circles) against dose on a log axis, the per-bin means as horizontal
// segments across their bins with "mean (n)" labels, bin edges dashed, ticks and labels on both
// axes. Images without a dose cannot be placed and are counted in a note. BGR, CV_8UC3, `size`
// (clamped to at least 320 x 240) on white.
cv::Mat RenderDiceVsDose(const std::vector<ImageEvaluation>& results, const EvalSummary& summary,
                         const std::string& title, cv::Size size = cv::Size(900, 560));

struct EvalArgs {
  std::string data_dir;
  std::string model;      // "NAME" or "NAME:VERSION"; empty = the server's default.
  std::string out_dir;    // Empty: write no files.
  std::string server;     // Only for messages ("cannot reach the server at ...").
  int max_in_flight = 4;  // Images sent but not yet answered.
  bool quiet = false;     // Summary only, no per-image lines.
  // Frames with more pixels are segmented by SegmentLargeFrame instead of one message.
  int64_t large_pixels = int64_t{4096} * 4096;
  // > 0: every image's pixel size (nm), overriding manifest and file metadata.
  double pixel_size_nm = 0;
};

// Opens the data set, checks the model with the server, streams every image (read when it is
// about to be sent, so memory stays bounded by max_in_flight), prints the report to stdout and
// problems to stderr, and writes the files when out_dir is set (atomically). Returns 0 when
// every image was evaluated and every file written, 1 otherwise; a failing image does not stop
// the others.
int RunEval(FringeClient& client, const EvalArgs& args);

}  // namespace fringe

#endif  // FRINGE_CLIENT_CLI_EVAL_COMMAND_H_
