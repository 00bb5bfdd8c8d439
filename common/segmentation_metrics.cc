#include "common/segmentation_metrics.h"

#include <stdexcept>

#include "absl/strings/str_cat.h"

namespace fringe {

ConfusionCounts& ConfusionCounts::operator+=(const ConfusionCounts& other) {
  true_positive += other.true_positive;
  false_positive += other.false_positive;
  false_negative += other.false_negative;
  true_negative += other.true_negative;
  return *this;
}

ConfusionCounts CountConfusion(const cv::Mat& predicted, const cv::Mat& truth) {
  if (predicted.size() != truth.size() || predicted.channels() != 1 || truth.channels() != 1) {
    throw std::invalid_argument("CountConfusion: masks must be single-channel and the same size");
  }
  const cv::Mat p = predicted != 0, t = truth != 0;
  ConfusionCounts c;
  c.true_positive = cv::countNonZero(p & t);
  c.false_positive = cv::countNonZero(p & ~t);
  c.false_negative = cv::countNonZero(~p & t);
  c.true_negative =
      static_cast<int64_t>(p.total()) - c.true_positive - c.false_positive - c.false_negative;
  return c;
}

SegmentationMetrics ComputeMetrics(const ConfusionCounts& c) {
  auto ratio = [](double num, double den) { return den > 0 ? num / den : 1.0; };
  const double tp = static_cast<double>(c.true_positive);
  const double fp = static_cast<double>(c.false_positive);
  const double fn = static_cast<double>(c.false_negative);
  const double tn = static_cast<double>(c.true_negative);
  SegmentationMetrics m;
  m.dice = ratio(2 * tp, 2 * tp + fp + fn);
  m.iou = ratio(tp, tp + fp + fn);
  // Nothing predicted is perfectly precise only when there was nothing to find, and nothing to
  // find is perfectly recalled only when nothing was predicted.
  m.precision = tp + fp > 0 ? tp / (tp + fp) : (fn == 0 ? 1.0 : 0.0);
  m.recall = tp + fn > 0 ? tp / (tp + fn) : (fp == 0 ? 1.0 : 0.0);
  m.f1 = (m.precision + m.recall) > 0 ? 2 * m.precision * m.recall / (m.precision + m.recall) : 0;
  m.accuracy = ratio(tp + tn, tp + tn + fp + fn);
  return m;
}

int DoseBin(double dose_e_per_a2) {
  int bin = 0;
  for (const double edge : kDoseBinEdges) {
    if (dose_e_per_a2 >= edge) ++bin;
  }
  return bin;
}

std::string DoseBinLabel(int bin) {
  if (bin <= 0) return absl::StrCat("< ", kDoseBinEdges.front());
  if (bin >= kNumDoseBins - 1) return absl::StrCat(">= ", kDoseBinEdges.back());
  return absl::StrCat(kDoseBinEdges[bin - 1], "-", kDoseBinEdges[bin]);
}

}  // namespace fringe
