// A model version run inside this process for the analysis tools (no server): its logits,
// its serving-path segmenter, its attribution engine and its first-layer filters, all loaded
// from one version directory (<repository>/<name>/<version>/{config.pbtxt,weights.pt}).
// Torch-free header; the implementation is the analysis library's only LibTorch unit.
#ifndef FRINGE_ANALYSIS_LOCAL_MODEL_H_
#define FRINGE_ANALYSIS_LOCAL_MODEL_H_

#include <memory>
#include <opencv2/core.hpp>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/frame_stats.h"
#include "fringe/v1/model_config.pb.h"
#include "models/attribution/attribution.h"
#include "models/segmenter.h"

namespace fringe::analysis {

// A frame as the network sees it: standardised with its own statistics (zero mean, unit
// variance, as serving does) and padded with zeros (the mean) on the right and bottom to a
// multiple of the network's input multiple.
struct PreparedFrame {
  cv::Mat input;     // CV_32F, padded.
  cv::Rect valid;    // The frame's pixels inside `input` (top-left aligned).
  FrameStats stats;  // What standardisation used.
};
PreparedFrame PrepareFrame(const cv::Mat& frame, int multiple);

class LocalModel {
 public:
  struct Options {
    // Logits through the oneDNN serving plan when available (faster); false: eager module.
    bool onednn = true;
  };

  // Loads config.pbtxt and weights.pt of a "unet" version. NOT_FOUND for missing files,
  // INVALID_ARGUMENT for another architecture or weights that do not fit the config.
  static absl::StatusOr<std::unique_ptr<LocalModel>> Load(const std::string& version_dir,
                                                          const Options& options);
  static absl::StatusOr<std::unique_ptr<LocalModel>> Load(const std::string& version_dir) {
    return Load(version_dir, Options());
  }
  ~LocalModel();
  LocalModel(const LocalModel&) = delete;
  LocalModel& operator=(const LocalModel&) = delete;

  const v1::ModelConfig& config() const;
  const std::string& version_dir() const;
  // "NAME vVERSION" from the directory's last two components (for titles and reports).
  std::string label() const;
  int num_classes() const;
  int input_multiple() const;

  // Logits of prepared frames (CV_32F, one size, sides multiples of input_multiple(), at most
  // 8192): result[i][c] is frame i's class-c logit map (CV_32F, the frame's size).
  // INVALID_ARGUMENT for bad frames, INTERNAL when LibTorch fails.
  absl::StatusOr<std::vector<std::vector<cv::Mat>>> Logits(
      const std::vector<cv::Mat>& frames) const;

  // For each frame: the sum over the pixels where `region` (CV_8U, the frames' size) is
  // non-zero of logit_c, or with `contrastive` of logit_c - mean of the other logits: the
  // scalar the attribution engine explains for an AttributionTarget of kind kMask.
  absl::StatusOr<std::vector<double>> RegionScores(const std::vector<cv::Mat>& frames,
                                                   const cv::Mat& region, int class_index,
                                                   bool contrastive) const;

  // The serving path (BatchNorm folded, oneDNN plan), for SegmentFrame.
  const Segmenter& segmenter() const;
  // The attribution engine over the same weights.
  const Explainer& explainer() const;

  // The first convolution's kernels with BatchNorm folded in (the linear filters the network
  // really applies to the standardised input), one k x k CV_32F per output channel (summed
  // over input channels, of which a U-Net here has one).
  std::vector<cv::Mat> FirstLayerFilters() const;

 private:
  struct Impl;
  explicit LocalModel(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace fringe::analysis

#endif  // FRINGE_ANALYSIS_LOCAL_MODEL_H_
