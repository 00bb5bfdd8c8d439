// Per-class logit maps: what the network's last layer says at every pixel before the softmax.
// The margin logit_particle - logit_background shows how sure each pixel's decision is (its
// sign is the mask), which a probability map flattens near 0 and 1.
#ifndef FRINGE_ANALYSIS_LOGIT_MAPS_H_
#define FRINGE_ANALYSIS_LOGIT_MAPS_H_

#include <opencv2/core.hpp>
#include <string>
#include <utility>
#include <vector>

namespace fringe::analysis {

struct LogitClassStats {
  std::string name;
  double min = 0, max = 0, mean = 0;
  // Means over the pixels whose argmax is this class, and over the others (0 when empty).
  double mean_where_argmax = 0, mean_elsewhere = 0;
  int64_t argmax_pixels = 0;
};

// Argmax class of each pixel (CV_8U) of same-sized CV_32F logit maps (ties: lowest class).
cv::Mat ArgmaxClass(const std::vector<cv::Mat>& logits);

std::vector<LogitClassStats> ComputeLogitStats(const std::vector<cv::Mat>& logits,
                                               const std::vector<std::string>& class_names);

// A row of captioned panels: `leading` (e.g. the frame and an overlay, any BGR/grey images),
// then each class's logit map and, for two or more classes, the margin of the last class
// over the first, all in diverging colours centred at 0 with one shared scale (the 99.5th
// percentile of |logit| over every class) so the maps compare; captions give min / max.
// Panels are shrunk to at most max_side pixels (area averaging).
cv::Mat RenderLogitMaps(const std::vector<std::pair<std::string, cv::Mat>>& leading,
                        const std::vector<cv::Mat>& logits,
                        const std::vector<std::string>& class_names, int max_side = 512);

// {"classes": [{name, min, max, mean, mean_where_argmax, mean_elsewhere, argmax_pixels}],
//  "margin": {min, max, mean}} as indented JSON, with `stem` and `model`.
std::string FormatLogitStatsJson(const std::string& stem, const std::string& model,
                                 const std::vector<LogitClassStats>& stats,
                                 const std::vector<cv::Mat>& logits);

}  // namespace fringe::analysis

#endif  // FRINGE_ANALYSIS_LOGIT_MAPS_H_
