#include "analysis/logit_maps.h"

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>
#include <opencv2/imgproc.hpp>

#include "absl/strings/str_format.h"
#include "plot/plot.h"

namespace fringe::analysis {
namespace {

cv::Mat Shrink(const cv::Mat& image, int max_side) {
  const int side = std::max(image.rows, image.cols);
  if (side <= max_side || max_side <= 0) return image;
  const double f = static_cast<double>(max_side) / side;
  cv::Mat out;
  cv::resize(image, out, cv::Size(), f, f, cv::INTER_AREA);
  return out;
}

cv::Mat Margin(const std::vector<cv::Mat>& logits) { return logits.back() - logits.front(); }

}  // namespace

cv::Mat ArgmaxClass(const std::vector<cv::Mat>& logits) {
  if (logits.empty()) return cv::Mat();
  cv::Mat out = cv::Mat::zeros(logits[0].size(), CV_8U);
  cv::Mat best = logits[0].clone();
  for (size_t c = 1; c < logits.size(); ++c) {
    const cv::Mat better = logits[c] > best;
    out.setTo(static_cast<int>(c), better);
    logits[c].copyTo(best, better);
  }
  return out;
}

std::vector<LogitClassStats> ComputeLogitStats(const std::vector<cv::Mat>& logits,
                                               const std::vector<std::string>& class_names) {
  std::vector<LogitClassStats> out;
  const cv::Mat argmax = ArgmaxClass(logits);
  for (size_t c = 0; c < logits.size(); ++c) {
    LogitClassStats s;
    s.name = c < class_names.size() ? class_names[c] : absl::StrFormat("class %d", c);
    cv::minMaxLoc(logits[c], &s.min, &s.max);
    s.mean = cv::mean(logits[c])[0];
    const cv::Mat here = argmax == static_cast<int>(c);
    s.argmax_pixels = cv::countNonZero(here);
    if (s.argmax_pixels > 0) s.mean_where_argmax = cv::mean(logits[c], here)[0];
    if (s.argmax_pixels < static_cast<int64_t>(here.total())) {
      s.mean_elsewhere = cv::mean(logits[c], ~here)[0];
    }
    out.push_back(s);
  }
  return out;
}

cv::Mat RenderLogitMaps(const std::vector<std::pair<std::string, cv::Mat>>& leading,
                        const std::vector<cv::Mat>& logits,
                        const std::vector<std::string>& class_names, int max_side) {
  std::vector<cv::Mat> panels;
  for (const auto& [caption, image] : leading) {
    panels.push_back(plot::CaptionedPanel(Shrink(image, max_side), caption));
  }
  if (logits.empty()) return plot::HorizontalConcat(panels);
  std::vector<float> magnitudes;
  for (const cv::Mat& l : logits) {
    const cv::Mat a = cv::abs(l);
    magnitudes.insert(magnitudes.end(), a.begin<float>(), a.end<float>());
  }
  double scale = 1;
  if (!magnitudes.empty()) {
    const size_t k = std::min(magnitudes.size() - 1, magnitudes.size() * 995 / 1000);
    std::nth_element(magnitudes.begin(), magnitudes.begin() + k, magnitudes.end());
    if (magnitudes[k] > 0) scale = magnitudes[k];
  }
  const std::vector<LogitClassStats> stats = ComputeLogitStats(logits, class_names);
  for (size_t c = 0; c < logits.size(); ++c) {
    panels.push_back(plot::CaptionedPanel(
        Shrink(plot::RenderDivergingMap(logits[c], scale), max_side),
        absl::StrFormat("logit %s [%.1f, %.1f]", stats[c].name, stats[c].min, stats[c].max)));
  }
  if (logits.size() >= 2) {
    const cv::Mat margin = Margin(logits);
    double lo = 0, hi = 0;
    cv::minMaxLoc(margin, &lo, &hi);
    panels.push_back(plot::CaptionedPanel(
        Shrink(plot::RenderDivergingMap(margin, scale), max_side),
        absl::StrFormat("%s - %s [%.1f, %.1f]", stats.back().name, stats.front().name, lo, hi)));
  }
  cv::Mat row = plot::HorizontalConcat(panels);
  // A legend strip: the shared colour scale.
  cv::Mat legend(30, std::min(row.cols, 360), CV_8UC3, cv::Scalar(255, 255, 255));
  const int bar_x0 = 60, bar_x1 = legend.cols - 60;
  for (int x = bar_x0; x < bar_x1; ++x) {
    const double v = -1.0 + 2.0 * (x - bar_x0) / std::max(1, bar_x1 - bar_x0 - 1);
    cv::line(legend, {x, 4}, {x, 16}, cv::Scalar(plot::DivergingColor(v)), 1);
  }
  plot::DrawText(legend, absl::StrFormat("%.1f", -scale), {bar_x0 - 4, 10}, 0.4,
                 cv::Scalar(0, 0, 0), 1.0, 0.5);
  plot::DrawText(legend, absl::StrFormat("+%.1f", scale), {bar_x1 + 4, 10}, 0.4,
                 cv::Scalar(0, 0, 0), 0.0, 0.5);
  return plot::VerticalConcat({row, legend}, 4);
}

std::string FormatLogitStatsJson(const std::string& stem, const std::string& model,
                                 const std::vector<LogitClassStats>& stats,
                                 const std::vector<cv::Mat>& logits) {
  using Json = nlohmann::ordered_json;
  Json root;
  root["stem"] = stem;
  root["model"] = model;
  Json classes = Json::array();
  for (const LogitClassStats& s : stats) {
    classes.push_back({{"name", s.name},
                       {"min", s.min},
                       {"max", s.max},
                       {"mean", s.mean},
                       {"mean_where_argmax", s.mean_where_argmax},
                       {"mean_elsewhere", s.mean_elsewhere},
                       {"argmax_pixels", s.argmax_pixels}});
  }
  root["classes"] = classes;
  if (logits.size() >= 2) {
    const cv::Mat margin = Margin(logits);
    double lo = 0, hi = 0;
    cv::minMaxLoc(margin, &lo, &hi);
    root["margin"] = {{"min", lo}, {"max", hi}, {"mean", cv::mean(margin)[0]}};
  }
  return root.dump(2, ' ', false, Json::error_handler_t::replace) + "\n";
}

}  // namespace fringe::analysis
