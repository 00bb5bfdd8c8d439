// Overlap metrics between a predicted and a true binary mask (Dice, IoU, precision, recall,
// F1), as used by training validation, `fringe eval` and the studies.
#ifndef FRINGE_COMMON_SEGMENTATION_METRICS_H_
#define FRINGE_COMMON_SEGMENTATION_METRICS_H_

#include <array>
#include <cstdint>
#include <opencv2/core.hpp>
#include <string>

namespace fringe {

// Pixel counts of one comparison; they add up over images for pooled ("micro") metrics.
struct ConfusionCounts {
  int64_t true_positive = 0;
  int64_t false_positive = 0;
  int64_t false_negative = 0;
  int64_t true_negative = 0;

  ConfusionCounts& operator+=(const ConfusionCounts& other);
};

struct SegmentationMetrics {
  double dice = 0;       // 2TP / (2TP + FP + FN); 1 when both masks are empty.
  double iou = 0;        // TP / (TP + FP + FN); 1 when both masks are empty.
  double precision = 0;  // TP / (TP + FP); with nothing predicted: 1 if nothing is there, else 0.
  double recall = 0;     // TP / (TP + FN); with nothing to find: 1 if nothing is predicted, else 0.
  double f1 = 0;         // Harmonic mean of precision and recall (equals Dice).
  double accuracy = 0;   // (TP + TN) / all pixels.
};

// Compares two same-sized single-channel masks; any non-zero pixel is foreground.
ConfusionCounts CountConfusion(const cv::Mat& predicted, const cv::Mat& truth);

SegmentationMetrics ComputeMetrics(const ConfusionCounts& counts);

// Dose bins in electrons per square Angstrom: [0, 100), [100, 300), [300, inf). The edges are
// where the published HRTEM results change regime (Dice collapses from ~0.8 at high dose to
// ~0.46 at 80 e/A^2 without noise augmentation).
inline constexpr int kNumDoseBins = 3;
inline constexpr std::array<double, kNumDoseBins - 1> kDoseBinEdges = {100.0, 300.0};

// The bin of a dose: 0 for < 100, 1 for 100 <= dose < 300, 2 for >= 300.
int DoseBin(double dose_e_per_a2);
// "< 100", "100-300", ">= 300".
std::string DoseBinLabel(int bin);

}  // namespace fringe

#endif  // FRINGE_COMMON_SEGMENTATION_METRICS_H_
