#include "study/study_result.h"

#include <algorithm>
#include <cmath>
#include <map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "plot/csv.h"
#include "plot/plot.h"

namespace fringe::study {
namespace {

using Json = nlohmann::json;

template <typename T>
Json OrNull(const std::optional<T>& v) {
  return v.has_value() ? Json(*v) : Json(nullptr);
}

template <typename T>
std::optional<T> Optional(const Json& j, const char* key) {
  if (!j.contains(key) || j.at(key).is_null()) return std::nullopt;
  return j.at(key).get<T>();
}

Json SpectrumJson(const analysis::RadialSpectrum& s) {
  return {{"frequency", s.frequency},
          {"amplitude", s.amplitude},
          {"count", s.count},
          {"bin_width", s.bin_width},
          {"unit", s.unit}};
}

analysis::RadialSpectrum SpectrumFromJson(const Json& j) {
  analysis::RadialSpectrum s;
  s.frequency = j.at("frequency").get<std::vector<double>>();
  s.amplitude = j.at("amplitude").get<std::vector<double>>();
  s.count = j.at("count").get<std::vector<int64_t>>();
  s.bin_width = j.at("bin_width").get<double>();
  s.unit = j.at("unit").get<std::string>();
  return s;
}

std::string Fixed(const std::optional<double>& v, int precision) {
  return v.has_value() ? absl::StrFormat("%.*f", precision, *v) : std::string("n/a");
}

std::string CsvOptional(const std::optional<double>& v) {
  return v.has_value() ? analysis::CsvNumber(*v) : std::string();
}

bool Done(const CandidateResult& r) { return r.status == "done"; }

std::string ParameterText(int64_t n) {
  if (n == 0) return "0";
  if (n >= 1000000) return absl::StrFormat("%.2f M", n / 1e6);
  return absl::StrFormat("%.1f k", n / 1e3);
}

// Both Dice plots: mean Dice from 0 to 1 on the y axis.
plot::LinePlotOptions DiceAxes(const std::string& title, const std::string& x_label) {
  plot::LinePlotOptions o;
  o.title = title;
  o.x_label = x_label;
  o.y_label = "mean Dice";
  o.y_range = std::make_pair(0.0, 1.0);
  o.legend = plot::LinePlotOptions::Legend::kBottomRight;
  o.size = cv::Size(900, 560);
  return o;
}

}  // namespace

Json ToJson(const CandidateResult& r) {
  Json j = {{"name", r.name},
            {"description", r.description},
            {"architecture", r.architecture},
            {"status", r.status},
            {"version_dir", r.version_dir},
            {"parameters", r.parameters},
            {"macs", OrNull(r.macs)},
            {"latency_tile", r.latency_tile},
            {"receptive_field_px", OrNull(r.receptive_field_px)},
            {"receptive_field_nm", OrNull(r.receptive_field_nm)},
            {"steps", r.steps},
            {"best_step", r.best_step},
            {"training_seconds", r.training_seconds},
            {"best_validation_dice", r.best_validation_dice},
            {"frames", r.frames},
            {"dice", r.dice},
            {"iou", r.iou},
            {"f1", r.f1},
            {"precision", r.precision},
            {"recall", r.recall},
            {"pooled_dice", r.pooled_dice},
            {"latency_ms", OrNull(r.latency_ms)},
            {"threads", r.threads},
            {"spectrum_frames", r.spectrum_frames},
            {"au_band_contrast", OrNull(r.au_band_contrast)},
            {"spectrum_method", r.spectrum_method}};
  Json bins = Json::array();
  for (int b = 0; b < kNumDoseBins; ++b) {
    bins.push_back({{"label", DoseBinLabel(b)},
                    {"frames", r.frames_by_dose[b]},
                    {"dice", OrNull(r.dice_by_dose[b])}});
  }
  j["dice_by_dose"] = bins;
  Json frames = Json::array();
  for (const auto& [dose, dice] : r.dose_dice) frames.push_back({dose, dice});
  j["dose_dice"] = frames;
  if (r.relevance_spectrum.has_value()) {
    j["relevance_spectrum"] = SpectrumJson(*r.relevance_spectrum);
    j["relevance_spectrum_std"] = r.relevance_spectrum_std;
  }
  j["randomized"] = r.randomized;
  j["factors_left_out"] = r.factors_left_out;
  Json sets = Json::array();
  for (const SetResult& s : r.sets) sets.push_back(ToJson(s));
  j["evaluation_sets"] = sets;
  return j;
}

Json ToJson(const SetResult& r) {
  return {{"set", r.set},
          {"kind", r.kind},
          {"status", r.status},
          {"frames", r.frames},
          {"labelled", r.labelled},
          {"dice", r.dice},
          {"precision", r.precision},
          {"recall", r.recall},
          {"pooled_dice", r.pooled_dice},
          {"false_positive_area", r.false_positive_area},
          {"max_false_positive_area", r.max_false_positive_area},
          {"montages", r.montages}};
}

absl::StatusOr<SetResult> SetResultFromJson(const Json& j) {
  SetResult r;
  try {
    r.set = j.at("set").get<std::string>();
    r.kind = j.at("kind").get<std::string>();
    r.status = j.at("status").get<std::string>();
    r.frames = j.at("frames").get<int>();
    r.labelled = j.at("labelled").get<bool>();
    r.dice = j.at("dice").get<double>();
    r.precision = j.at("precision").get<double>();
    r.recall = j.at("recall").get<double>();
    r.pooled_dice = j.at("pooled_dice").get<double>();
    r.false_positive_area = j.at("false_positive_area").get<double>();
    r.max_false_positive_area = j.at("max_false_positive_area").get<double>();
    r.montages = j.at("montages").get<std::vector<std::string>>();
  } catch (const Json::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("evaluation set result: ", e.what()));
  }
  return r;
}

absl::StatusOr<CandidateResult> CandidateResultFromJson(const Json& j) {
  CandidateResult r;
  try {
    r.name = j.at("name").get<std::string>();
    r.description = j.at("description").get<std::string>();
    r.architecture = j.at("architecture").get<std::string>();
    r.status = j.at("status").get<std::string>();
    r.version_dir = j.at("version_dir").get<std::string>();
    r.parameters = j.at("parameters").get<int64_t>();
    r.macs = Optional<int64_t>(j, "macs");
    r.latency_tile = j.at("latency_tile").get<int>();
    r.receptive_field_px = Optional<int64_t>(j, "receptive_field_px");
    r.receptive_field_nm = Optional<double>(j, "receptive_field_nm");
    r.steps = j.at("steps").get<int64_t>();
    r.best_step = j.at("best_step").get<int64_t>();
    r.training_seconds = j.at("training_seconds").get<double>();
    r.best_validation_dice = j.at("best_validation_dice").get<double>();
    r.frames = j.at("frames").get<int>();
    r.dice = j.at("dice").get<double>();
    r.iou = j.at("iou").get<double>();
    r.f1 = j.at("f1").get<double>();
    r.precision = j.at("precision").get<double>();
    r.recall = j.at("recall").get<double>();
    r.pooled_dice = j.at("pooled_dice").get<double>();
    r.latency_ms = Optional<double>(j, "latency_ms");
    r.threads = j.at("threads").get<int>();
    r.spectrum_frames = j.at("spectrum_frames").get<int>();
    r.au_band_contrast = Optional<double>(j, "au_band_contrast");
    r.spectrum_method = j.at("spectrum_method").get<std::string>();
    const Json& bins = j.at("dice_by_dose");
    if (!bins.is_array() || bins.size() != kNumDoseBins) {
      return absl::InvalidArgumentError(
          absl::StrCat("dice_by_dose must list ", kNumDoseBins, " dose bins"));
    }
    for (int b = 0; b < kNumDoseBins; ++b) {
      r.frames_by_dose[b] = bins[b].at("frames").get<int>();
      r.dice_by_dose[b] = Optional<double>(bins[b], "dice");
    }
    for (const Json& f : j.at("dose_dice")) {
      r.dose_dice.emplace_back(f.at(0).get<double>(), f.at(1).get<double>());
    }
    if (j.contains("relevance_spectrum")) {
      r.relevance_spectrum = SpectrumFromJson(j.at("relevance_spectrum"));
      r.relevance_spectrum_std = j.at("relevance_spectrum_std").get<std::vector<double>>();
    }
    r.randomized = j.value("randomized", false);
    if (j.contains("factors_left_out")) {
      r.factors_left_out = j.at("factors_left_out").get<std::vector<std::string>>();
    }
    if (j.contains("evaluation_sets")) {
      for (const Json& s : j.at("evaluation_sets")) {
        auto set = SetResultFromJson(s);
        if (!set.ok()) return set.status();
        r.sets.push_back(*set);
      }
    }
  } catch (const Json::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("candidate result: ", e.what()));
  }
  return r;
}

void SummarizeFrames(const std::vector<FrameScore>& frames, CandidateResult* r) {
  r->frames = static_cast<int>(frames.size());
  r->dose_dice.clear();
  ConfusionCounts pooled;
  double dice = 0, iou = 0, f1 = 0, precision = 0, recall = 0;
  std::array<double, kNumDoseBins> bin_sum{};
  r->frames_by_dose.fill(0);
  for (const FrameScore& f : frames) {
    const SegmentationMetrics m = ComputeMetrics(f.counts);
    pooled += f.counts;
    dice += m.dice;
    iou += m.iou;
    f1 += m.f1;
    precision += m.precision;
    recall += m.recall;
    if (f.dose.has_value()) {
      const int bin = DoseBin(*f.dose);
      bin_sum[bin] += m.dice;
      ++r->frames_by_dose[bin];
      r->dose_dice.emplace_back(*f.dose, m.dice);
    }
  }
  const double n = std::max<size_t>(frames.size(), 1);
  r->dice = dice / n;
  r->iou = iou / n;
  r->f1 = f1 / n;
  r->precision = precision / n;
  r->recall = recall / n;
  r->pooled_dice = ComputeMetrics(pooled).dice;
  for (int b = 0; b < kNumDoseBins; ++b) {
    r->dice_by_dose[b] = r->frames_by_dose[b] > 0
                             ? std::optional<double>(bin_sum[b] / r->frames_by_dose[b])
                             : std::nullopt;
  }
}

std::string StudyMarkdown(const StudyContext& c, const std::vector<CandidateResult>& results) {
  std::string md = absl::StrCat("# ", c.title.empty() ? "Architecture study" : c.title, "\n\n");
  absl::StrAppend(&md, "Written by fringe-study. Reproduce with:\n\n```\n", c.command, "\n```\n\n");
  absl::StrAppend(&md, "- Training budget: ", absl::StrFormat("%.1f", c.minutes_per_candidate),
                  " minutes of wall-clock time per candidate (validations included), same "
                  "data, augmentation and seeds; each ships its best validation step.\n");
  absl::StrAppend(&md, "- Held-out set: ", c.held_out, "\n");
  absl::StrAppend(&md, "- Machine: ", c.machine, "\n");
  if (!c.git_revision.empty()) absl::StrAppend(&md, "- Revision: ", c.git_revision, "\n");
  if (!c.date.empty()) absl::StrAppend(&md, "- Date: ", c.date, "\n");
  absl::StrAppend(&md,
                  "\n| candidate | architecture | parameters | GMAC/tile | RF px | RF nm | "
                  "steps | train min | Dice | IoU | F1 | Dice ",
                  DoseBinLabel(0), " | Dice ", DoseBinLabel(1), " | Dice ", DoseBinLabel(2),
                  " | CPU ms/tile | relevance Au-band contrast |\n");
  absl::StrAppend(&md,
                  "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
                  "---:|---:|\n");
  std::vector<const CandidateResult*> skipped;
  for (const CandidateResult& r : results) {
    if (!Done(r)) {
      skipped.push_back(&r);
      continue;
    }
    const std::optional<double> gmac =
        r.macs.has_value() ? std::optional<double>(*r.macs / 1e9) : std::nullopt;
    absl::StrAppend(
        &md, "| ", r.name, " | ", r.architecture, " | ", ParameterText(r.parameters), " | ",
        Fixed(gmac, 2), " | ",
        r.receptive_field_px.has_value() ? absl::StrCat(*r.receptive_field_px) : "frame", " | ",
        Fixed(r.receptive_field_nm, 2), " | ", r.steps, " | ",
        absl::StrFormat("%.1f", r.training_seconds / 60), " | ", absl::StrFormat("%.3f", r.dice),
        " | ", absl::StrFormat("%.3f", r.iou), " | ", absl::StrFormat("%.3f", r.f1));
    for (int b = 0; b < kNumDoseBins; ++b) {
      absl::StrAppend(&md, " | ", Fixed(r.dice_by_dose[b], 3));
    }
    absl::StrAppend(&md, " | ", Fixed(r.latency_ms, 1), " | ", Fixed(r.au_band_contrast, 2),
                    " |\n");
  }
  absl::StrAppend(&md,
                  "\nDice, IoU and F1 are means over the held-out frames (F1 equals Dice "
                  "per frame). GMAC: multiply-accumulates (2 FLOPs each) of one ");
  const int tile = results.empty() ? 0 : results.front().latency_tile;
  absl::StrAppend(&md, tile, "x", tile,
                  " tile, counted from the traced network. RF: receptive field (analytic, "
                  "pixels and nm at the model's pixel size). CPU ms/tile: median time of one ",
                  tile, "x", tile,
                  " tile through the serving path, all candidates timed side by side (round "
                  "robin) at the end of the run. Relevance Au-band contrast: the mean "
                  "relevance spectrum's amplitude at the Au {111}/{200} fringe frequencies "
                  "over its flanks (> 1: the network's relevance follows the lattice "
                  "fringes).\n");
  if (!skipped.empty()) {
    absl::StrAppend(&md, "\nNot in the table:\n");
    for (const CandidateResult* r : skipped) {
      absl::StrAppend(&md, "- ", r->name, " (", r->description, "): ", r->status, "\n");
    }
  }
  absl::StrAppend(&md, "\nCandidates:\n");
  for (const CandidateResult& r : results) {
    absl::StrAppend(&md, "- **", r.name, "**: ", r.description, "\n");
  }
  absl::StrAppend(&md,
                  "\nPlots: dice_vs_dose.png, dice_vs_receptive_field.png, "
                  "relevance_spectra.png. Per-candidate details: candidates/<name>/"
                  "result.json.\n");
  return md;
}

std::string StudyCsv(const std::vector<CandidateResult>& results) {
  std::string csv =
      "candidate,architecture,status,parameters,macs,receptive_field_px,receptive_field_nm,"
      "steps,best_step,training_seconds,best_validation_dice,frames,dice,iou,f1,precision,"
      "recall,pooled_dice";
  for (int b = 0; b < kNumDoseBins; ++b) {
    absl::StrAppend(&csv, ",", analysis::CsvField(absl::StrCat("dice_dose ", DoseBinLabel(b))));
  }
  absl::StrAppend(&csv, ",latency_ms,latency_tile,threads,au_band_contrast\n");
  for (const CandidateResult& r : results) {
    const bool done = Done(r);
    auto num = [&](double v) { return done ? analysis::CsvNumber(v) : std::string(); };
    absl::StrAppend(&csv, analysis::CsvField(r.name), ",", analysis::CsvField(r.architecture), ",",
                    analysis::CsvField(r.status), ",", done ? absl::StrCat(r.parameters) : "", ",",
                    r.macs.has_value() ? absl::StrCat(*r.macs) : "", ",",
                    r.receptive_field_px.has_value() ? absl::StrCat(*r.receptive_field_px) : "",
                    ",", CsvOptional(r.receptive_field_nm), ",", done ? absl::StrCat(r.steps) : "",
                    ",", done ? absl::StrCat(r.best_step) : "", ",", num(r.training_seconds), ",",
                    num(r.best_validation_dice), ",", done ? absl::StrCat(r.frames) : "", ",",
                    num(r.dice), ",", num(r.iou), ",", num(r.f1), ",", num(r.precision), ",",
                    num(r.recall), ",", num(r.pooled_dice));
    for (int b = 0; b < kNumDoseBins; ++b) {
      absl::StrAppend(&csv, ",", CsvOptional(r.dice_by_dose[b]));
    }
    absl::StrAppend(
        &csv, ",", CsvOptional(r.latency_ms), ",", done ? absl::StrCat(r.latency_tile) : "", ",",
        done ? absl::StrCat(r.threads) : "", ",", CsvOptional(r.au_band_contrast), "\n");
  }
  return csv;
}

cv::Mat RenderDiceVsDose(const std::vector<CandidateResult>& results,
                         const std::vector<double>& edges) {
  std::vector<plot::PlotSeries> series;
  for (const CandidateResult& r : results) {
    if (!Done(r)) continue;
    plot::PlotSeries s;
    s.label = r.name;
    s.markers = true;
    s.dashed = r.architecture == "fourier-bandpass";
    for (size_t i = 0; i + 1 < edges.size(); ++i) {
      double sum = 0;
      int n = 0;
      for (const auto& [dose, dice] : r.dose_dice) {
        const bool last = i + 2 == edges.size();
        if (dose >= edges[i] && (dose < edges[i + 1] || (last && dose <= edges[i + 1]))) {
          sum += dice;
          ++n;
        }
      }
      if (n == 0) continue;
      s.x.push_back(std::sqrt(edges[i] * edges[i + 1]));
      s.y.push_back(sum / n);
    }
    series.push_back(std::move(s));
  }
  return plot::RenderLinePlot(
      series, DiceAxes("Held-out Dice vs electron dose", "dose (e/A^2), interval centres"));
}

cv::Mat RenderDiceVsReceptiveField(const std::vector<CandidateResult>& results) {
  std::vector<plot::PlotSeries> series;
  for (const CandidateResult& r : results) {
    if (!Done(r) || !r.receptive_field_nm.has_value()) continue;
    plot::PlotSeries s;
    s.label = r.name;
    s.markers = true;
    s.x = {*r.receptive_field_nm};
    s.y = {r.dice};
    series.push_back(std::move(s));
  }
  plot::LinePlotOptions o = DiceAxes("Held-out Dice vs receptive field", "receptive field (nm)");
  double hi = 0;
  for (const auto& s : series) hi = std::max(hi, s.x[0]);
  if (!series.empty()) o.x_range = std::make_pair(0.0, hi * 1.1 + 0.5);
  return plot::RenderLinePlot(series, o);
}

namespace {

std::vector<analysis::SpectrumCurve> SpectrumCurves(const StudyContext& c,
                                                    const std::vector<CandidateResult>& results) {
  std::vector<analysis::SpectrumCurve> curves;
  for (const CandidateResult& r : results) {
    if (!Done(r) || !r.relevance_spectrum.has_value()) continue;
    curves.push_back({r.name, *r.relevance_spectrum, {}});
  }
  if (c.input_spectrum.has_value()) curves.push_back({"input frames", *c.input_spectrum, {}});
  return curves;
}

}  // namespace

cv::Mat RenderRelevanceSpectra(const StudyContext& c, const std::vector<CandidateResult>& results) {
  std::string method;
  for (const CandidateResult& r : results) {
    if (!r.spectrum_method.empty()) method = r.spectrum_method;
  }
  return analysis::RenderSpectrumPlot(
      SpectrumCurves(c, results), 0,
      absl::StrCat(method.empty() ? "relevance" : method, " relevance spectra per network"));
}

std::string RelevanceSpectraCsv(const StudyContext& c,
                                const std::vector<CandidateResult>& results) {
  return analysis::FormatSpectrumCsv(SpectrumCurves(c, results));
}

namespace {

const SetResult* FindSet(const CandidateResult& r, const std::string& set) {
  for (const SetResult& s : r.sets) {
    if (s.set == set) return &s;
  }
  return nullptr;
}

}  // namespace

const CandidateResult* MatrixReference(const std::vector<CandidateResult>& results) {
  for (const CandidateResult& r : results) {
    if (r.status == "done" && r.randomized && r.factors_left_out.empty()) return &r;
  }
  return nullptr;
}

std::optional<double> CostOfLeavingOut(const std::vector<CandidateResult>& results,
                                       const CandidateResult& candidate, const std::string& set) {
  const CandidateResult* reference = MatrixReference(results);
  if (reference == nullptr || reference == &candidate || candidate.factors_left_out.empty() ||
      !candidate.randomized) {
    return std::nullopt;
  }
  const SetResult* mine = FindSet(candidate, set);
  const SetResult* theirs = FindSet(*reference, set);
  if (!mine || !theirs || mine->status != "done" || theirs->status != "done" || !mine->labelled ||
      !theirs->labelled) {
    return std::nullopt;
  }
  return theirs->dice - mine->dice;
}

std::string EvaluationSetsMarkdown(const std::vector<std::string>& set_order,
                                   const std::vector<std::string>& set_descriptions,
                                   const std::vector<CandidateResult>& results) {
  if (set_order.empty()) return "";
  std::string md = "\n## Evaluation sets\n\n";
  const CandidateResult* reference = MatrixReference(results);
  absl::StrAppend(&md, "Cost of leaving X out = Dice of ",
                  reference ? absl::StrCat("`", reference->name, "`") : "the reference",
                  " (every nuisance factor randomised) minus the Dice of the candidate trained "
                  "without factor X, on the same set (positive: the factor helps there). False-"
                  "positive area: share of the scored pixels marked particle that are background "
                  "in truth (on frames without gold: every marked pixel).\n");
  for (size_t i = 0; i < set_order.size(); ++i) {
    const std::string& set = set_order[i];
    absl::StrAppend(&md, "\n### ", set, "\n\n",
                    i < set_descriptions.size() ? set_descriptions[i] : "", "\n\n");
    absl::StrAppend(&md,
                    "| candidate | left out | frames | Dice | precision | recall | pooled Dice | "
                    "FP area (mean) | FP area (worst frame) | cost of leaving X out | note |\n"
                    "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|\n");
    for (const CandidateResult& r : results) {
      const SetResult* s = FindSet(r, set);
      const std::string left =
          !r.randomized
              ? "(not randomised)"
              : (r.factors_left_out.empty() ? "-" : absl::StrJoin(r.factors_left_out, "+"));
      if (s == nullptr || s->status != "done") {
        absl::StrAppend(&md, "| ", r.name, " | ", left, " |  |  |  |  |  |  |  |  | ",
                        s ? s->status : r.status, " |\n");
        continue;
      }
      auto num = [&](double v) { return s->labelled ? absl::StrFormat("%.3f", v) : "n/a"; };
      const std::optional<double> cost = CostOfLeavingOut(results, r, set);
      absl::StrAppend(&md, "| ", r.name, " | ", left, " | ", s->frames, " | ", num(s->dice), " | ",
                      num(s->precision), " | ", num(s->recall), " | ", num(s->pooled_dice), " | ",
                      absl::StrFormat("%.4f", s->false_positive_area), " | ",
                      absl::StrFormat("%.4f", s->max_false_positive_area), " | ",
                      cost ? absl::StrFormat("%+.3f", *cost) : "", " | ",
                      s->montages.empty() ? "" : absl::StrJoin(s->montages, ", "), " |\n");
    }
  }
  return md;
}

std::string EvaluationSetsCsv(const std::vector<CandidateResult>& results) {
  std::string csv =
      "candidate,set,kind,status,frames,dice,precision,recall,pooled_dice,false_positive_area,"
      "max_false_positive_area,factors_left_out,cost_of_leaving_out\n";
  for (const CandidateResult& r : results) {
    for (const SetResult& s : r.sets) {
      const std::optional<double> cost = CostOfLeavingOut(results, r, s.set);
      auto num = [&](double v) { return s.labelled ? absl::StrFormat("%.6g", v) : ""; };
      std::string status = s.status;
      std::replace(status.begin(), status.end(), ',', ';');
      absl::StrAppend(&csv, r.name, ",", s.set, ",", s.kind, ",", status, ",", s.frames, ",",
                      num(s.dice), ",", num(s.precision), ",", num(s.recall), ",",
                      num(s.pooled_dice), ",", absl::StrFormat("%.6g", s.false_positive_area), ",",
                      absl::StrFormat("%.6g", s.max_false_positive_area), ",",
                      r.randomized ? absl::StrJoin(r.factors_left_out, "+") : "not-randomised", ",",
                      cost ? absl::StrFormat("%.6g", *cost) : "", "\n");
    }
  }
  return csv;
}

}  // namespace fringe::study
