#include "client/cli/eval_command.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <set>
#include <string_view>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "base/file_util.h"
#include "client/cli/cli_util.h"
#include "common/progress_bar.h"
#include "common/tensor_codec.h"
#include "data/image_io.h"
#include "data/labelled_dataset.h"
#include "plot/csv.h"
#include "plot/plot.h"

namespace fringe {
namespace {

namespace fs = std::filesystem;

std::optional<double> Mean(double sum, int n) {
  if (n == 0) return std::nullopt;
  return sum / n;
}

std::string Num(const std::optional<double>& v, int width, int precision) {
  if (!v.has_value()) return absl::StrFormat("%*s", width, "n/a");
  return absl::StrFormat("%*.*f", width, precision, *v);
}

std::string Plural(int n, const std::string& what) {
  return absl::StrCat(n, " ", what, n == 1 ? "" : "s");
}

// Ordered so the file reads top-down like the printed report.
using Json = nlohmann::ordered_json;

Json OrNull(const std::optional<double>& v) { return v.has_value() ? Json(*v) : Json(nullptr); }

}  // namespace

EvalSummary SummarizeEvaluations(const std::vector<ImageEvaluation>& results) {
  EvalSummary s;
  double dice = 0, iou = 0, precision = 0, recall = 0, f1 = 0, compute = 0;
  int with_compute = 0;
  std::array<double, kNumDoseBins> bin_dice{};
  for (const ImageEvaluation& r : results) {
    ++s.evaluated;
    dice += r.metrics.dice;
    iou += r.metrics.iou;
    precision += r.metrics.precision;
    recall += r.metrics.recall;
    f1 += r.metrics.f1;
    if (r.compute_ms.has_value()) {
      compute += *r.compute_ms;
      ++with_compute;
    }
    s.pooled_counts += r.counts;
    if (r.dose.has_value()) {
      const int bin = DoseBin(*r.dose);
      ++s.bins[bin].count;
      bin_dice[bin] += r.metrics.dice;
    } else {
      ++s.without_dose;
    }
  }
  s.mean_dice = Mean(dice, s.evaluated);
  s.mean_iou = Mean(iou, s.evaluated);
  s.mean_precision = Mean(precision, s.evaluated);
  s.mean_recall = Mean(recall, s.evaluated);
  s.mean_f1 = Mean(f1, s.evaluated);
  s.mean_compute_ms = Mean(compute, with_compute);
  if (s.evaluated > 0) s.pooled = ComputeMetrics(s.pooled_counts);
  for (int b = 0; b < kNumDoseBins; ++b) {
    s.bins[b].label = DoseBinLabel(b);
    s.bins[b].mean_dice = Mean(bin_dice[b], s.bins[b].count);
  }
  return s;
}

std::string FormatEvalReport(const std::vector<ImageEvaluation>& results,
                             const EvalSummary& summary, const EvalModelInfo& model,
                             const std::string& data_dir, int failed, bool quiet) {
  std::string out = absl::StrCat("fringe eval: ", data_dir, " with model ",
                                 model.name.empty() ? "?" : model.name, " v", model.version);
  if (model.untrained) absl::StrAppend(&out, " (UNTRAINED: quality numbers mean nothing)");
  absl::StrAppend(&out, "\n");
  for (const auto& [name, version] : model.also_seen) {
    absl::StrAppend(&out, "note: some images were answered by ", name, " v", version, "\n");
  }
  absl::StrAppend(&out, Plural(summary.evaluated + failed, "image"), ": ", summary.evaluated,
                  " evaluated, ", failed, " failed\n\n");

  size_t stem_width = 24;  // Fits the "pooled over all pixels" row label.
  for (const ImageEvaluation& r : results) stem_width = std::max(stem_width, r.stem.size());
  stem_width = std::min<size_t>(stem_width, 48);
  const int w = static_cast<int>(stem_width);
  absl::StrAppend(
      &out, absl::StrFormat("%-*s %9s %7s %7s %7s %7s %7s %11s\n", w, quiet ? "" : "stem", "dose",
                            "dice", "iou", "prec", "recall", "f1", "compute_ms"));
  if (!quiet) {
    for (const ImageEvaluation& r : results) {
      const SegmentationMetrics& m = r.metrics;
      absl::StrAppend(
          &out, absl::StrFormat("%-*s %9s %7.4f %7.4f %7.4f %7.4f %7.4f %11s\n", w, r.stem,
                                r.dose ? absl::StrFormat("%.1f", *r.dose) : "-", m.dice, m.iou,
                                m.precision, m.recall, m.f1,
                                r.compute_ms ? absl::StrFormat("%.2f", *r.compute_ms) : "-"));
    }
  }
  absl::StrAppend(&out, std::string(stem_width + 70, '-'), "\n");
  absl::StrAppend(&out,
                  absl::StrFormat("%-*s %9s %s %s %s %s %s %s\n", w,
                                  absl::StrCat("mean of ", Plural(summary.evaluated, "image")), "",
                                  Num(summary.mean_dice, 7, 4), Num(summary.mean_iou, 7, 4),
                                  Num(summary.mean_precision, 7, 4), Num(summary.mean_recall, 7, 4),
                                  Num(summary.mean_f1, 7, 4), Num(summary.mean_compute_ms, 11, 2)));
  const std::optional<SegmentationMetrics>& p = summary.pooled;
  absl::StrAppend(&out,
                  absl::StrFormat("%-*s %9s %s %s %s %s %s\n", w, "pooled over all pixels", "",
                                  Num(p ? std::optional<double>(p->dice) : std::nullopt, 7, 4),
                                  Num(p ? std::optional<double>(p->iou) : std::nullopt, 7, 4),
                                  Num(p ? std::optional<double>(p->precision) : std::nullopt, 7, 4),
                                  Num(p ? std::optional<double>(p->recall) : std::nullopt, 7, 4),
                                  Num(p ? std::optional<double>(p->f1) : std::nullopt, 7, 4)));
  absl::StrAppend(&out, "\nmean Dice by dose (e/A^2):\n");
  for (const DoseBinSummary& bin : summary.bins) {
    if (bin.count == 0) {
      absl::StrAppend(&out, absl::StrFormat("  %-8s  no images\n", bin.label));
    } else {
      absl::StrAppend(&out, absl::StrFormat("  %-8s  %-10s  %.4f\n", bin.label,
                                            Plural(bin.count, "image"), *bin.mean_dice));
    }
  }
  if (summary.without_dose > 0) {
    absl::StrAppend(&out, "  (", Plural(summary.without_dose, "image"),
                    " without a known dose, in no bin)\n");
  }
  return out;
}

std::string FormatEvalCsv(const std::vector<ImageEvaluation>& results) {
  std::string out =
      "stem,dose,dice,iou,precision,recall,f1,compute_ms,particle_fraction,mean_entropy_bits,"
      "lattice_contrast,out_of_domain\n";
  for (const ImageEvaluation& r : results) {
    const SegmentationMetrics& m = r.metrics;
    absl::StrAppend(
        &out, analysis::CsvField(r.stem), ",", r.dose ? absl::StrFormat("%.6g", *r.dose) : "",
        absl::StrFormat(",%.6f,%.6f,%.6f,%.6f,%.6f,", m.dice, m.iou, m.precision, m.recall, m.f1),
        r.compute_ms ? absl::StrFormat("%.3f", *r.compute_ms) : "");
    if (r.quality) {
      const v1::FrameQuality& q = *r.quality;
      absl::StrAppend(&out,
                      absl::StrFormat(",%.6f,%.6f,", q.particle_fraction(), q.mean_entropy_bits()),
                      q.lattice_checked() ? absl::StrFormat("%.4f", q.lattice_contrast()) : "", ",",
                      q.out_of_domain() ? 1 : 0);
    } else {
      absl::StrAppend(&out, ",,,,");
    }
    absl::StrAppend(&out, "\n");
  }
  return out;
}

std::string FormatEvalSummaryJson(
    const EvalSummary& summary, const EvalModelInfo& model, const std::string& data_dir, int images,
    const std::vector<std::pair<std::string, std::string>>& failures) {
  using json = Json;
  json root;
  root["data_dir"] = data_dir;
  root["model"] = {
      {"name", model.name}, {"version", model.version}, {"untrained", model.untrained}};
  if (!model.also_seen.empty()) {
    json seen = json::array();
    for (const auto& [name, version] : model.also_seen) {
      seen.push_back({{"name", name}, {"version", version}});
    }
    root["model"]["also_seen"] = seen;
  }
  root["images"] = images;
  root["evaluated"] = summary.evaluated;
  root["failed"] = static_cast<int>(failures.size());
  root["mean"] = {{"dice", OrNull(summary.mean_dice)},
                  {"iou", OrNull(summary.mean_iou)},
                  {"precision", OrNull(summary.mean_precision)},
                  {"recall", OrNull(summary.mean_recall)},
                  {"f1", OrNull(summary.mean_f1)},
                  {"compute_ms", OrNull(summary.mean_compute_ms)}};
  const std::optional<SegmentationMetrics>& p = summary.pooled;
  const ConfusionCounts& c = summary.pooled_counts;
  root["pooled"] = {{"dice", p ? json(p->dice) : json(nullptr)},
                    {"iou", p ? json(p->iou) : json(nullptr)},
                    {"precision", p ? json(p->precision) : json(nullptr)},
                    {"recall", p ? json(p->recall) : json(nullptr)},
                    {"f1", p ? json(p->f1) : json(nullptr)},
                    {"true_positive", c.true_positive},
                    {"false_positive", c.false_positive},
                    {"false_negative", c.false_negative},
                    {"true_negative", c.true_negative}};
  json bins = json::array();
  for (int b = 0; b < kNumDoseBins; ++b) {
    const DoseBinSummary& bin = summary.bins[b];
    bins.push_back({{"label", bin.label},
                    {"min", b == 0 ? json(nullptr) : json(kDoseBinEdges[b - 1])},
                    {"max", b == kNumDoseBins - 1 ? json(nullptr) : json(kDoseBinEdges[b])},
                    {"count", bin.count},
                    {"mean_dice", OrNull(bin.mean_dice)}});
  }
  root["dose_bins"] = bins;
  root["images_without_dose"] = summary.without_dose;
  json failed = json::array();
  for (const auto& [stem, error] : failures) failed.push_back({{"stem", stem}, {"error", error}});
  root["failures"] = failed;
  // replace: a stem or an error message with invalid UTF-8 must not make dump() throw.
  return root.dump(2, ' ', false, json::error_handler_t::replace) + "\n";
}

std::pair<double, double> DoseAxisRange(const std::vector<double>& doses) {
  double lo = kDoseBinEdges.front(), hi = kDoseBinEdges.back();
  for (const double d : doses) {
    if (!(d > 0) || !std::isfinite(d)) continue;
    lo = std::min(lo, d);
    hi = std::max(hi, d);
  }
  double a = std::floor(std::log10(lo));
  double b = std::ceil(std::log10(hi));
  // A dose (or bin edge) exactly on a decade would sit on the frame, and the "< 100" bin would
  // have no width; give them room.
  if (std::pow(10.0, a) >= lo) a -= 1;
  if (std::pow(10.0, b) <= hi) b += 1;
  if (b <= a) b = a + 1;
  return {std::pow(10.0, a), std::pow(10.0, b)};
}

namespace {

const cv::Scalar kBlack(0, 0, 0);
const cv::Scalar kGrid(225, 225, 225);
const cv::Scalar kEdge(150, 150, 150);
const cv::Scalar kPoint(200, 110, 20);  // Blue (BGR).
const cv::Scalar kPointRim(120, 60, 0);
const cv::Scalar kMean(40, 40, 210);  // Red.
const std::array<cv::Scalar, kNumDoseBins> kBinTint = {
    cv::Scalar(238, 238, 252), cv::Scalar(232, 248, 252), cv::Scalar(236, 250, 236)};

// The drawing primitives are shared with the analysis figures (plot/plot.h).
using plot::DrawText;

void DashedVertical(cv::Mat& img, int x, int y0, int y1, const cv::Scalar& color) {
  plot::DrawDashedLine(img, {x, y0}, {x, y1}, color, 5, 5);
}

std::string TickLabel(double dose) {
  return dose >= 1 ? absl::StrFormat("%.0f", dose) : absl::StrFormat("%g", dose);
}

}  // namespace

cv::Mat RenderDiceVsDose(const std::vector<ImageEvaluation>& results, const EvalSummary& summary,
                         const std::string& title, cv::Size size) {
  size.width = std::max(size.width, 320);
  size.height = std::max(size.height, 240);
  cv::Mat img(size, CV_8UC3, cv::Scalar(255, 255, 255));
  const int left = 70, right = 24, top = 48, bottom = 62;
  const cv::Rect frame(left, top, size.width - left - right, size.height - top - bottom);
  // Dice 0 and 1 sit a few pixels inside the frame so their circles stay whole.
  const int pad = 8;

  std::vector<double> doses;
  for (const ImageEvaluation& r : results) {
    if (r.dose.has_value()) doses.push_back(*r.dose);
  }
  const auto [dose_lo, dose_hi] = DoseAxisRange(doses);
  const double log_lo = std::log10(dose_lo), log_span = std::log10(dose_hi) - log_lo;
  auto x_of = [&](double dose) {
    return frame.x + static_cast<int>(
                         std::lround((std::log10(dose) - log_lo) / log_span * (frame.width - 1)));
  };
  auto y_of = [&](double dice) {
    const double clamped = std::clamp(dice, 0.0, 1.0);
    return frame.y + pad +
           static_cast<int>(std::lround((1.0 - clamped) * (frame.height - 1 - 2 * pad)));
  };

  // Bin backgrounds, so which points belong to which bin reads at a glance.
  for (int b = 0; b < kNumDoseBins; ++b) {
    const int x0 = b == 0 ? frame.x : x_of(kDoseBinEdges[b - 1]);
    const int x1 = b == kNumDoseBins - 1 ? frame.br().x - 1 : x_of(kDoseBinEdges[b]);
    cv::rectangle(img, cv::Rect(cv::Point(x0, frame.y), cv::Point(x1, frame.br().y)), kBinTint[b],
                  cv::FILLED);
  }

  // Grid and ticks. Dice every 0.2; dose at 1-2-5 steps when few decades, decades otherwise.
  for (int i = 0; i <= 5; ++i) {
    const double dice = i / 5.0;
    const int y = y_of(dice);
    cv::line(img, {frame.x, y}, {frame.br().x - 1, y}, kGrid, 1);
    cv::line(img, {frame.x - 5, y}, {frame.x, y}, kBlack, 1);
    DrawText(img, absl::StrFormat("%.1f", dice), {frame.x - 8, y}, 0.45, kBlack, 1.0, 0.5);
  }
  const int decades = static_cast<int>(std::lround(log_span));
  for (int k = 0; k <= decades; ++k) {
    const double decade = dose_lo * std::pow(10.0, k);
    for (const int m : {1, 2, 3, 4, 5, 6, 7, 8, 9}) {
      const double dose = decade * m;
      if (dose > dose_hi * 1.0001) break;
      const int x = x_of(dose);
      const bool labelled = m == 1 || (decades <= 3 && (m == 2 || m == 5));
      if (m == 1) cv::line(img, {x, frame.y}, {x, frame.br().y - 1}, kGrid, 1);
      cv::line(img, {x, frame.br().y}, {x, frame.br().y + (labelled ? 6 : 3)}, kBlack, 1);
      if (labelled) DrawText(img, TickLabel(dose), {x, frame.br().y + 10}, 0.45, kBlack, 0.5, 0.0);
    }
  }
  for (const double edge : kDoseBinEdges)
    DashedVertical(img, x_of(edge), frame.y, frame.br().y, kEdge);
  cv::rectangle(img, frame, kBlack, 1);

  // Bin means under the points (a segment is long, so points never hide it), the points, then
  // the mean labels on boxes so no point can make them unreadable.
  struct Label {
    std::string text;
    cv::Point anchor;
    double align_y;
  };
  std::vector<Label> labels;
  for (int b = 0; b < kNumDoseBins; ++b) {
    const int x0 = b == 0 ? frame.x : x_of(kDoseBinEdges[b - 1]);
    const int x1 = b == kNumDoseBins - 1 ? frame.br().x - 1 : x_of(kDoseBinEdges[b]);
    const DoseBinSummary& bin = summary.bins[b];
    if (!bin.mean_dice.has_value()) {
      DrawText(img, "no images", {(x0 + x1) / 2, frame.y + frame.height / 2}, 0.45, kEdge, 0.5,
               0.5);
      continue;
    }
    const int y = y_of(*bin.mean_dice);
    cv::line(img, {x0 + 4, y}, {x1 - 4, y}, kMean, 2, cv::LINE_AA);
    // Above the segment, or below it when the segment is at the top of the frame.
    const bool below = y - frame.y < 26;
    labels.push_back({absl::StrFormat("mean %.3f (n=%d)", *bin.mean_dice, bin.count),
                      {(x0 + x1) / 2, below ? y + 8 : y - 8},
                      below ? 0.0 : 1.0});
  }
  for (const ImageEvaluation& r : results) {
    if (!r.dose.has_value() || !(*r.dose > 0)) continue;
    const cv::Point c(x_of(*r.dose), y_of(r.metrics.dice));
    cv::circle(img, c, 6, kPoint, cv::FILLED, cv::LINE_AA);
    cv::circle(img, c, 6, kPointRim, 1, cv::LINE_AA);
  }
  for (const Label& label : labels) {
    DrawText(img, label.text, label.anchor, 0.42, kMean, 0.5, label.align_y, 1, /*boxed=*/true);
  }

  // Titles and notes.
  DrawText(img, title, {size.width / 2, 14}, 0.55, kBlack, 0.5, 0.0);
  DrawText(img, "Dice", {frame.x, frame.y - 6}, 0.5, kBlack, 0.5, 1.0);
  DrawText(img, "dose (e/A^2, log scale)", {frame.x + frame.width / 2, size.height - 8}, 0.5,
           kBlack, 0.5, 1.0);
  std::string note;
  if (doses.empty()) {
    note = "no image has a known dose";
  } else if (summary.without_dose > 0) {
    note = absl::StrCat(Plural(summary.without_dose, "image"), " without a dose not shown");
  }
  if (!note.empty()) {
    DrawText(img, note, {frame.br().x - 4, frame.br().y + 28}, 0.42, kEdge, 1.0, 0.0);
  }
  return img;
}

namespace {

absl::Status WriteText(const std::string& path, const std::string& text) {
  return WriteFileAtomically(path, text);
}

// A request on the wire: which item it is and its true mask (only in-flight masks are kept).
struct InFlight {
  size_t index = 0;
  cv::Mat truth;
};

absl::StatusOr<ImageEvaluation> Evaluate(const data::DatasetItem& item, const cv::Mat& predicted,
                                         const cv::Mat& truth) {
  if (predicted.size() != truth.size() || predicted.channels() != 1) {
    return absl::InternalError(absl::StrCat("the server's mask is ", predicted.cols, "x",
                                            predicted.rows, " but the image is ", truth.cols, "x",
                                            truth.rows));
  }
  ImageEvaluation r;
  r.stem = item.stem;
  r.dose = item.dose;
  r.counts = CountConfusion(predicted, truth);
  r.metrics = ComputeMetrics(r.counts);
  return r;
}

}  // namespace

int RunEval(FringeClient& client, const EvalArgs& args) {
  auto model = ParseModelRef(args.model);
  if (!model.ok()) return ReportError("--model", model.status());
  auto dataset = data::LabelledDataset::Open(args.data_dir);
  if (!dataset.ok())
    return ReportError("opening the labelled folder", dataset.status());  // It names DIR.
  const std::vector<data::DatasetItem>& items = dataset->items();

  // Ask before reading any pixels: an unreachable server or a wrong model name is the most
  // common mistake and should not cost a pass over the folder.
  auto description = client.Describe(model->name(), model->version());
  if (!description.ok()) {
    const absl::StatusCode code = description.status().code();
    if (code == absl::StatusCode::kUnavailable || code == absl::StatusCode::kDeadlineExceeded) {
      return ReportError(absl::StrCat("cannot reach the server at ", args.server),
                         description.status());
    }
    if (code == absl::StatusCode::kNotFound) return ReportError("--model", description.status());
    return ReportError("asking the server about the model", description.status());
  }
  auto untrained = [&](int64_t version) {
    for (const v1::ModelVersionInfo& v : description->versions()) {
      if (v.version() == version) return v.config().untrained();
    }
    return false;
  };

  if (!args.out_dir.empty()) {
    std::error_code ec;
    fs::create_directories(args.out_dir, ec);
    if (ec)
      return ReportError(absl::StrCat("creating ", args.out_dir),
                         absl::InternalError(ec.message()));
  }

  // next() runs on the stream's writer thread and on_response on this one: `mu` guards all
  // state they share.
  std::mutex mu;
  std::map<std::string, InFlight> in_flight;  // request id (= stem) -> truth mask
  std::vector<std::optional<ImageEvaluation>> results(items.size());
  std::vector<std::string> errors(items.size());
  std::map<std::pair<std::string, int64_t>, int> answered_by;  // (model, version) -> images
  int64_t done = 0;
  ProgressBar progress("eval", static_cast<int64_t>(items.size()));
  auto finish = [&](size_t index, absl::StatusOr<ImageEvaluation> r) {
    std::lock_guard<std::mutex> lock(mu);
    if (r.ok()) {
      results[index] = *std::move(r);
    } else {
      errors[index] = std::string(r.status().message());
    }
    progress.Update(++done);
  };

  size_t next_index = 0;  // Only next() touches it.
  auto next = [&](v1::SegmentRequest* request) -> bool {
    while (next_index < items.size()) {
      const size_t index = next_index++;
      const data::DatasetItem& item = items[index];
      auto loaded = dataset->Load(item);
      if (!loaded.ok()) {
        finish(index, loaded.status());
        continue;
      }
      const cv::Mat& frame = loaded->first.pixels;
      if (static_cast<int64_t>(frame.total()) > args.large_pixels) {
        // Too big for one message: tiled on this side, with no server timing to report.
        v1::Image calibration;
        const PixelSize pixel = SetWirePixelSize(
            item.pixel_size_nm ? item.pixel_size_nm : loaded->first.pixel_size_x_nm,
            item.pixel_size_nm ? item.pixel_size_nm : loaded->first.pixel_size_y_nm,
            args.pixel_size_nm, &calibration);
        auto mask = client.SegmentLargeFrame(frame, *model, 2048, 64, pixel);
        finish(index, mask.ok() ? Evaluate(item, *mask, loaded->second)
                                : absl::StatusOr<ImageEvaluation>(mask.status()));
        continue;
      }
      auto wire = MakeWireImage(frame);
      if (!wire.ok()) {
        finish(index, absl::Status(wire.status().code(),
                                   absl::StrCat(item.image_path, ": ", wire.status().message())));
        continue;
      }
      request->set_id(item.stem);
      *request->mutable_model() = *model;
      *request->mutable_image() = *std::move(wire);
      // The manifest's pixel size (both axes) beats the file's per-axis calibration.
      const data::Image& img = loaded->first;
      SetWirePixelSize(item.pixel_size_nm ? item.pixel_size_nm : img.pixel_size_x_nm,
                       item.pixel_size_nm ? item.pixel_size_nm : img.pixel_size_y_nm,
                       args.pixel_size_nm, request->mutable_image());
      request->set_priority(v1::PRIORITY_BATCH);
      request->set_client_id("fringe-eval");
      std::lock_guard<std::mutex> lock(mu);
      in_flight[item.stem] = InFlight{index, std::move(loaded->second)};
      return true;
    }
    return false;
  };
  auto on_response = [&](v1::SegmentResponse&& response) {
    InFlight pending;
    {
      std::lock_guard<std::mutex> lock(mu);
      auto it = in_flight.find(response.id());
      if (it == in_flight.end()) return;  // Not ours; cannot happen with a correct server.
      pending = std::move(it->second);
      in_flight.erase(it);
    }
    const data::DatasetItem& item = items[pending.index];
    if (response.has_error() && response.error().code() != 0) {
      finish(pending.index,
             absl::Status(static_cast<absl::StatusCode>(response.error().code()),
                          absl::StrCat(item.image_path, ": server: ", response.error().message())));
      return;
    }
    auto mask = TensorToMat(response.mask(), "mask");
    if (!mask.ok()) {
      finish(pending.index, mask.status());
      return;
    }
    auto evaluation = Evaluate(item, *mask, pending.truth);
    if (evaluation.ok()) {
      evaluation->compute_ms = response.timings().compute_ms();
      evaluation->quality = response.quality();
    }
    {
      std::lock_guard<std::mutex> lock(mu);
      ++answered_by[{response.model_name(), response.model_version()}];
    }
    finish(pending.index, std::move(evaluation));
  };

  const absl::Status stream = client.SegmentStream(next, on_response, args.max_in_flight);
  progress.Finish();

  // From here on only this thread runs. Images neither answered nor failed were cut off by a
  // broken stream.
  std::vector<ImageEvaluation> evaluated;
  std::vector<std::pair<std::string, std::string>> failures;
  for (size_t i = 0; i < items.size(); ++i) {
    if (results[i].has_value()) {
      evaluated.push_back(*results[i]);
    } else {
      failures.emplace_back(items[i].stem, errors[i].empty()
                                               ? absl::StrCat("not evaluated: the stream ended (",
                                                              stream.message(), ")")
                                               : errors[i]);
    }
  }

  EvalModelInfo info;
  if (!answered_by.empty()) {
    // The model that answered most images names the report; others are listed.
    auto most = std::max_element(answered_by.begin(), answered_by.end(),
                                 [](const auto& a, const auto& b) { return a.second < b.second; });
    info.name = most->first.first;
    info.version = most->first.second;
    for (const auto& [key, count] : answered_by) {
      if (key != most->first) info.also_seen.push_back(key);
    }
  } else {
    info.name = description->name();
    info.version = model->version() != 0 ? model->version() : description->serving_version();
  }
  info.untrained = info.name == description->name() && untrained(info.version);

  const EvalSummary summary = SummarizeEvaluations(evaluated);
  std::fputs(FormatEvalReport(evaluated, summary, info, args.data_dir,
                              static_cast<int>(failures.size()), args.quiet)
                 .c_str(),
             stdout);
  std::fflush(stdout);

  int rc = 0;
  for (const auto& [stem, error] : failures) {
    std::fprintf(stderr, "error: %s: %s\n", stem.c_str(), error.c_str());
  }
  if (!stream.ok()) {
    ReportError(absl::StrCat("segmentation stream to ", args.server), stream);
    rc = 1;
  }
  if (!failures.empty()) {
    std::fprintf(stderr, "%zu of %zu images failed\n", failures.size(), items.size());
    rc = 1;
  }

  if (!args.out_dir.empty()) {
    const fs::path out(args.out_dir);
    fs::path data_name = fs::path(args.data_dir).lexically_normal();
    if (data_name.filename().empty()) data_name = data_name.parent_path();  // "dir/"
    const std::string title =
        absl::StrCat("Dice vs dose: ", info.name, " v", info.version, " on ",
                     data_name.filename().string(), " (", Plural(summary.evaluated, "image"), ")");
    const std::vector<std::pair<std::string, absl::Status>> writes = {
        {"eval.csv", WriteText((out / "eval.csv").string(), FormatEvalCsv(evaluated))},
        {"eval_summary.json",
         WriteText((out / "eval_summary.json").string(),
                   FormatEvalSummaryJson(summary, info, args.data_dir,
                                         static_cast<int>(items.size()), failures))},
        {"dice_vs_dose.png", WriteImageFile((out / "dice_vs_dose.png").string(),
                                            RenderDiceVsDose(evaluated, summary, title))}};
    bool written = true;
    for (const auto& [name, status] : writes) {
      if (!status.ok()) {
        rc = ReportError(absl::StrCat("writing ", name), status);
        written = false;
      }
    }
    if (written) {
      std::printf("wrote %s, %s and %s\n", (out / "eval.csv").c_str(),
                  (out / "eval_summary.json").c_str(), (out / "dice_vs_dose.png").c_str());
    }
  }
  return rc;
}

}  // namespace fringe
