#include "analysis/blur_sweep.h"

#include <cmath>
#include <nlohmann/json.hpp>
#include <opencv2/imgproc.hpp>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "analysis/relevance_spectrum.h"
#include "base/status_macros.h"
#include "plot/csv.h"
#include "plot/plot.h"

namespace fringe::analysis {
namespace {

constexpr double kPi = 3.14159265358979323846;

double PredictedFraction(const ConfusionCounts& c) {
  const double all =
      static_cast<double>(c.true_positive + c.false_positive + c.false_negative + c.true_negative);
  return all > 0 ? (c.true_positive + c.false_positive) / all : 0.0;
}

}  // namespace

cv::Mat BlurFrame(const cv::Mat& frame, double sigma) {
  cv::Mat f;
  frame.convertTo(f, CV_32F);
  if (!(sigma > 0)) return f;
  cv::Mat out;
  cv::GaussianBlur(f, out, cv::Size(0, 0), sigma, sigma, cv::BORDER_REFLECT);
  return out;
}

double GaussianGain(double sigma, double frequency) {
  return std::exp(-2.0 * kPi * kPi * sigma * sigma * frequency * frequency);
}

absl::StatusOr<BlurSweepFrame> RunBlurSweepOnFrame(const cv::Mat& frame, const cv::Mat& truth,
                                                   const std::vector<double>& sigmas,
                                                   const FrameSegmentFn& segment) {
  if (frame.size() != truth.size()) {
    return absl::InvalidArgumentError("the frame and its mask differ in size");
  }
  BlurSweepFrame out;
  for (const double sigma : sigmas) {
    FRINGE_ASSIGN_OR_RETURN(const cv::Mat mask, segment(BlurFrame(frame, sigma)));
    if (mask.size() != frame.size()) {
      return absl::InternalError("the segmenter returned a mask of another size");
    }
    out.counts.push_back(CountConfusion(mask, truth));
  }
  return out;
}

std::vector<BlurSweepPoint> SummarizeBlurSweep(const std::vector<BlurSweepFrame>& frames,
                                               const std::vector<double>& sigmas) {
  std::vector<BlurSweepPoint> points;
  for (size_t s = 0; s < sigmas.size(); ++s) {
    BlurSweepPoint p;
    p.sigma = sigmas[s];
    ConfusionCounts pooled;
    std::vector<double> dice;
    for (const BlurSweepFrame& f : frames) {
      if (s >= f.counts.size()) continue;
      dice.push_back(ComputeMetrics(f.counts[s]).dice);
      p.mean_predicted_fraction += PredictedFraction(f.counts[s]);
      pooled += f.counts[s];
    }
    p.frames = static_cast<int>(dice.size());
    if (p.frames > 0) {
      for (const double d : dice) p.mean_dice += d / p.frames;
      p.mean_predicted_fraction /= p.frames;
      if (p.frames > 1) {
        double ss = 0;
        for (const double d : dice) ss += (d - p.mean_dice) * (d - p.mean_dice);
        p.std_dice = std::sqrt(ss / (p.frames - 1));
      }
      p.pooled_dice = ComputeMetrics(pooled).dice;
    }
    points.push_back(p);
  }
  return points;
}

std::string FormatBlurSweepCsv(const std::vector<BlurSweepFrame>& frames,
                               const std::vector<double>& sigmas) {
  std::string out = "stem,dose,sigma_px,dice,iou,precision,recall,predicted_fraction\n";
  for (const BlurSweepFrame& f : frames) {
    for (size_t s = 0; s < sigmas.size() && s < f.counts.size(); ++s) {
      const SegmentationMetrics m = ComputeMetrics(f.counts[s]);
      absl::StrAppend(&out, CsvField(f.stem), ",", f.dose ? CsvNumber(*f.dose) : "", ",",
                      CsvNumber(sigmas[s]), ",", CsvNumber(m.dice), ",", CsvNumber(m.iou), ",",
                      CsvNumber(m.precision), ",", CsvNumber(m.recall), ",",
                      CsvNumber(PredictedFraction(f.counts[s])), "\n");
    }
  }
  return out;
}

std::string FormatBlurSweepJson(const std::vector<BlurSweepPoint>& points,
                                const std::vector<BlurSweepFrame>& frames, const std::string& model,
                                double pixel_size_nm) {
  using Json = nlohmann::ordered_json;
  Json root;
  root["model"] = model;
  root["frames"] = static_cast<int>(frames.size());
  root["pixel_size_nm"] = pixel_size_nm > 0 ? Json(pixel_size_nm) : Json(nullptr);
  root["blur"] = "Gaussian of sigma pixels on the raw frame, then per-frame standardisation";
  Json pts = Json::array();
  for (const BlurSweepPoint& p : points) {
    Json jp = {{"sigma_px", p.sigma},
               {"mean_dice", p.mean_dice},
               {"std_dice", p.std_dice},
               {"pooled_dice", p.pooled_dice},
               {"mean_predicted_fraction", p.mean_predicted_fraction},
               {"frames", p.frames}};
    if (pixel_size_nm > 0) {
      jp["sigma_nm"] = p.sigma * pixel_size_nm;
      jp["gain_au111"] = GaussianGain(p.sigma, pixel_size_nm / kAu111SpacingNm);
      jp["gain_au200"] = GaussianGain(p.sigma, pixel_size_nm / kAu200SpacingNm);
    }
    pts.push_back(jp);
  }
  root["points"] = pts;
  return root.dump(2, ' ', false, Json::error_handler_t::replace) + "\n";
}

cv::Mat RenderBlurSweepPlot(const std::vector<BlurSweepPoint>& points, double pixel_size_nm,
                            const std::string& title) {
  plot::PlotSeries mean, pooled;
  mean.label = "mean Dice (+-1 std)";
  mean.markers = true;
  mean.color = cv::Scalar(40, 40, 214);
  pooled.label = "pooled Dice";
  pooled.color = cv::Scalar(180, 119, 31);
  pooled.thickness = 1;
  pooled.markers = true;
  for (const BlurSweepPoint& p : points) {
    mean.x.push_back(p.sigma);
    mean.y.push_back(p.mean_dice);
    mean.spread.push_back(p.std_dice);
    pooled.x.push_back(p.sigma);
    pooled.y.push_back(p.pooled_dice);
  }
  std::vector<plot::PlotSeries> series = {mean, pooled};
  if (pixel_size_nm > 0 && !points.empty()) {
    // Dense curves of the filter's gain at the fringe frequencies, for reading off where the
    // fringes are gone.
    const double top = points.back().sigma;
    plot::PlotSeries g111, g200;
    g111.label = "Gaussian gain at Au {111}";
    g200.label = "Gaussian gain at Au {200}";
    g111.color = cv::Scalar(0, 140, 200);
    g200.color = cv::Scalar(0, 100, 0);
    g111.dashed = g200.dashed = true;
    g111.thickness = g200.thickness = 1;
    for (int i = 0; i <= 100; ++i) {
      const double s = top * i / 100.0;
      g111.x.push_back(s);
      g111.y.push_back(GaussianGain(s, pixel_size_nm / kAu111SpacingNm));
      g200.x.push_back(s);
      g200.y.push_back(GaussianGain(s, pixel_size_nm / kAu200SpacingNm));
    }
    series.push_back(g111);
    series.push_back(g200);
  }
  plot::LinePlotOptions options;
  options.title = title;
  options.x_label = "Gaussian blur sigma (px)";
  options.y_label = "Dice / gain";
  options.y_range = std::make_pair(0.0, 1.02);
  options.legend = plot::LinePlotOptions::Legend::kBottomLeft;
  if (pixel_size_nm > 0) {
    options.note =
        absl::StrFormat("pixel %.4g nm: 1 px blur = %.4g nm", pixel_size_nm, pixel_size_nm);
  }
  return plot::RenderLinePlot(series, options);
}

}  // namespace fringe::analysis
