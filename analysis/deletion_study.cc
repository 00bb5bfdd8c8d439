#include "analysis/deletion_study.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <nlohmann/json.hpp>
#include <opencv2/imgproc.hpp>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "base/status_macros.h"
#include "plot/csv.h"
#include "plot/plot.h"

namespace fringe::analysis {
namespace {

using Json = nlohmann::ordered_json;

std::string Normalise(std::string name) { return absl::StrReplaceAll(name, {{"_", "-"}}); }

bool IsKnownMethod(const std::string& name) {
  if (name == "random") return true;
  const std::vector<std::string> known = KnownAttributionMethods();
  return std::find(known.begin(), known.end(), name) != known.end();
}

Json CurveJson(const PerturbationCurve& c) {
  return {{"fraction", c.fraction}, {"score", c.score},       {"normalised", c.normalised},
          {"auc", c.auc},           {"relative", c.relative}, {"relative_auc", c.relative_auc}};
}

Json MeanStdJson(const MeanStd& m) { return {{"mean", m.mean}, {"std", m.std}, {"n", m.n}}; }

}  // namespace

absl::StatusOr<std::vector<DeletionMethod>> ParseDeletionMethods(
    const std::string& list, const std::vector<std::string>& parameters) {
  std::vector<DeletionMethod> methods;
  std::set<std::string> labels;
  for (absl::string_view item : absl::StrSplit(list, ',', absl::SkipWhitespace())) {
    const std::string whole = Normalise(std::string(absl::StripAsciiWhitespace(item)));
    absl::string_view rest = whole;
    DeletionMethod m;
    std::optional<bool> absolute;
    if (absl::ConsumePrefix(&rest, "abs:")) {
      absolute = true;
    } else if (absl::ConsumePrefix(&rest, "signed:")) {
      absolute = false;
    }
    const std::string spec(rest);
    if (!IsKnownMethod(spec)) {
      std::vector<std::string> known = KnownAttributionMethods();
      known.push_back("random");
      return absl::InvalidArgumentError(absl::StrCat("unknown method \"", std::string(item),
                                                     "\"; known: ", absl::StrJoin(known, ", "),
                                                     " (optionally prefixed abs: or signed:)"));
    }
    m.method = spec;
    m.absolute = absolute.value_or(spec == "gradient" || spec == "smoothgrad");
    m.label = spec;
    if (absolute.has_value() && spec != "random") {
      m.label = absl::StrCat(*absolute ? "abs:" : "signed:", spec);
    }
    if (!labels.insert(m.label).second) {
      return absl::InvalidArgumentError(absl::StrCat("method \"", m.label, "\" is listed twice"));
    }
    methods.push_back(m);
  }
  if (methods.empty()) return absl::InvalidArgumentError("no methods listed");
  for (const std::string& p : parameters) {
    const size_t dot = p.find('.'), eq = p.find('=');
    if (dot == std::string::npos || eq == std::string::npos || dot == 0 || eq < dot + 2) {
      return absl::InvalidArgumentError(
          absl::StrCat("parameter \"", p, "\": expected METHOD.KEY=VALUE"));
    }
    const std::string method = Normalise(p.substr(0, dot));
    bool used = false;
    for (DeletionMethod& m : methods) {
      if (m.method == method && method != "random") {
        m.parameters[p.substr(dot + 1, eq - dot - 1)] = p.substr(eq + 1);
        used = true;
      }
    }
    if (!used) {
      return absl::InvalidArgumentError(
          absl::StrCat("parameter \"", p, "\" names no listed attribution method"));
    }
  }
  return methods;
}

absl::StatusOr<FrameDeletionResult> RunDeletionStudyOnFrame(
    const LocalModel& model, const cv::Mat& frame, const std::string& stem,
    const std::vector<DeletionMethod>& methods, const DeletionStudyOptions& options,
    const std::function<void(const std::string&)>& progress) {
  if (options.reference != "mean" && options.reference != "blur") {
    return absl::InvalidArgumentError(
        absl::StrCat("reference \"", options.reference, "\": expected mean or blur"));
  }
  FrameDeletionResult result;
  result.stem = stem;
  const PreparedFrame prepared = PrepareFrame(frame, model.input_multiple());
  FRINGE_ASSIGN_OR_RETURN(const auto logits, model.Logits({prepared.input}));
  // The predicted region of the class, inside the frame (padding is never a target).
  cv::Mat region = cv::Mat::zeros(prepared.input.size(), CV_8U);
  {
    const std::vector<cv::Mat>& maps = logits[0];
    if (options.class_index < 0 || options.class_index >= static_cast<int>(maps.size())) {
      return absl::InvalidArgumentError(absl::StrCat(
          "class ", options.class_index, " is not one of the model's 0..", maps.size() - 1));
    }
    for (int y = prepared.valid.y; y < prepared.valid.br().y; ++y) {
      for (int x = prepared.valid.x; x < prepared.valid.br().x; ++x) {
        int best = 0;
        for (size_t c = 1; c < maps.size(); ++c) {
          if (maps[c].at<float>(y, x) > maps[best].at<float>(y, x)) best = static_cast<int>(c);
        }
        region.at<uchar>(y, x) = best == options.class_index ? 1 : 0;
      }
    }
  }
  result.predicted_pixels = cv::countNonZero(region);
  result.patches = PatchCount(prepared.valid.size(), options.flipping.patch);
  if (result.predicted_pixels == 0) {
    result.skipped = true;
    return result;
  }

  cv::Mat reference = cv::Mat::zeros(prepared.input.size(), CV_32F);
  if (options.reference == "blur") {
    cv::Mat blurred;
    cv::GaussianBlur(prepared.input(prepared.valid), blurred, cv::Size(0, 0), options.blur_sigma,
                     options.blur_sigma, cv::BORDER_REFLECT);
    blurred.copyTo(reference(prepared.valid));
  }
  const FrameScorer scorer = [&](const std::vector<cv::Mat>& frames) {
    return model.RegionScores(frames, region, options.class_index, options.contrastive);
  };
  FRINGE_ASSIGN_OR_RETURN(const std::vector<double> ends, scorer({prepared.input, reference}));
  result.full_score = ends[0];
  result.reference_score = ends[1];

  for (const DeletionMethod& m : methods) {
    MethodOnFrame out;
    if (m.method == "random") {
      out.random = true;
      std::vector<DeletionInsertion> runs;
      for (int s = 0; s < std::max(1, options.random_seeds); ++s) {
        const std::vector<int> order = RandomPatchOrder(result.patches, options.seed_base + s);
        FRINGE_ASSIGN_OR_RETURN(
            DeletionInsertion run,
            RunDeletionInsertion(prepared.input, reference, order, options.flipping, scorer,
                                 prepared.valid, &result.full_score, &result.reference_score));
        runs.push_back(std::move(run));
      }
      std::vector<PerturbationCurve> del, ins;
      for (const DeletionInsertion& r : runs) {
        del.push_back(r.deletion);
        ins.push_back(r.insertion);
      }
      out.curves.deletion = MeanCurve(del);
      out.curves.insertion = MeanCurve(ins);
      out.curves.full_score = result.full_score;
      out.curves.reference_score = result.reference_score;
    } else {
      AttributionRequest request;
      request.method = m.method;
      request.parameters = m.parameters;
      request.target.kind = AttributionTarget::Kind::kMask;
      request.target.mask = region;
      request.target.class_index = options.class_index;
      request.target.contrastive = options.contrastive;
      const auto start = std::chrono::steady_clock::now();
      auto explained = model.explainer().Explain(prepared.input, request);
      if (!explained.ok()) {
        return absl::Status(explained.status().code(),
                            absl::StrCat(m.label, ": ", explained.status().message()));
      }
      out.explain_ms =
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
              .count();
      out.explained_target = explained->target_value;
      out.relevance_sum = explained->relevance_sum;
      cv::Mat relevance = explained->relevance(prepared.valid);
      if (m.absolute) relevance = cv::abs(relevance);
      const std::vector<int> order = OrderPatchesByRelevance(relevance, options.flipping.patch);
      FRINGE_ASSIGN_OR_RETURN(
          out.curves,
          RunDeletionInsertion(prepared.input, reference, order, options.flipping, scorer,
                               prepared.valid, &result.full_score, &result.reference_score));
      if (options.keep_maps) out.relevance = explained->relevance(prepared.valid).clone();
    }
    result.methods[m.label] = std::move(out);
    if (progress) progress(m.label);
  }
  return result;
}

MeanStd ComputeMeanStd(const std::vector<double>& values) {
  MeanStd m;
  m.n = static_cast<int>(values.size());
  if (m.n == 0) return m;
  for (const double v : values) m.mean += v / m.n;
  if (m.n > 1) {
    double ss = 0;
    for (const double v : values) ss += (v - m.mean) * (v - m.mean);
    m.std = std::sqrt(ss / (m.n - 1));
  }
  return m;
}

std::vector<DeletionMethodSummary> SummarizeDeletionStudy(
    const std::vector<FrameDeletionResult>& frames, const std::vector<DeletionMethod>& methods) {
  std::vector<DeletionMethodSummary> out;
  for (const DeletionMethod& m : methods) {
    DeletionMethodSummary s;
    s.label = m.label;
    std::vector<double> del, ins, del_rel, ins_rel, ms;
    std::vector<std::vector<double>> del_points, ins_points;
    for (const FrameDeletionResult& f : frames) {
      auto it = f.methods.find(m.label);
      if (f.skipped || it == f.methods.end()) continue;
      const DeletionInsertion& c = it->second.curves;
      del.push_back(c.deletion.auc);
      ins.push_back(c.insertion.auc);
      del_rel.push_back(c.deletion.relative_auc);
      ins_rel.push_back(c.insertion.relative_auc);
      ms.push_back(it->second.explain_ms);
      if (s.fraction.empty()) s.fraction = c.deletion.fraction;
      del_points.push_back(c.deletion.normalised);
      ins_points.push_back(c.insertion.normalised);
    }
    s.deletion_auc = ComputeMeanStd(del);
    s.insertion_auc = ComputeMeanStd(ins);
    s.deletion_relative_auc = ComputeMeanStd(del_rel);
    s.insertion_relative_auc = ComputeMeanStd(ins_rel);
    s.mean_explain_ms = ComputeMeanStd(ms).mean;
    for (size_t k = 0; k < s.fraction.size(); ++k) {
      std::vector<double> d, i;
      for (size_t f = 0; f < del_points.size(); ++f) {
        if (k < del_points[f].size()) d.push_back(del_points[f][k]);
        if (k < ins_points[f].size()) i.push_back(ins_points[f][k]);
      }
      const MeanStd md = ComputeMeanStd(d), mi = ComputeMeanStd(i);
      s.deletion_mean.push_back(md.mean);
      s.deletion_std.push_back(md.std);
      s.insertion_mean.push_back(mi.mean);
      s.insertion_std.push_back(mi.std);
    }
    out.push_back(std::move(s));
  }
  return out;
}

MeanStd ReferenceRetention(const std::vector<FrameDeletionResult>& frames) {
  std::vector<double> kept;
  for (const FrameDeletionResult& f : frames) {
    if (!f.skipped && f.full_score != 0) kept.push_back(f.reference_score / f.full_score);
  }
  return ComputeMeanStd(kept);
}

PairedComparison CompareMethods(const std::vector<FrameDeletionResult>& frames,
                                const std::string& a, const std::string& b) {
  PairedComparison c;
  c.a = a;
  c.b = b;
  std::vector<double> del, ins;
  for (const FrameDeletionResult& f : frames) {
    auto ia = f.methods.find(a), ib = f.methods.find(b);
    if (f.skipped || ia == f.methods.end() || ib == f.methods.end()) continue;
    const double d = ia->second.curves.deletion.auc - ib->second.curves.deletion.auc;
    const double i = ia->second.curves.insertion.auc - ib->second.curves.insertion.auc;
    del.push_back(d);
    ins.push_back(i);
    if (d < 0) ++c.deletion_wins;
    if (i > 0) ++c.insertion_wins;
  }
  c.deletion_difference = ComputeMeanStd(del);
  c.insertion_difference = ComputeMeanStd(ins);
  auto t = [](const MeanStd& m) {
    return m.n > 1 && m.std > 0 ? m.mean / (m.std / std::sqrt(static_cast<double>(m.n))) : 0.0;
  };
  c.deletion_t = t(c.deletion_difference);
  c.insertion_t = t(c.insertion_difference);
  return c;
}

std::string FormatDeletionFramesCsv(const std::vector<FrameDeletionResult>& frames) {
  std::string out =
      "stem,method,deletion_auc,insertion_auc,full_score,reference_score,predicted_pixels,"
      "explain_ms,explained_target,relevance_sum,deletion_relative_auc,insertion_relative_auc\n";
  for (const FrameDeletionResult& f : frames) {
    if (f.skipped) {
      absl::StrAppend(&out, CsvField(f.stem), ",skipped,,,,,0,,,,,\n");
      continue;
    }
    for (const auto& [label, m] : f.methods) {
      const bool random = m.random;
      absl::StrAppend(&out, CsvField(f.stem), ",", CsvField(label), ",",
                      CsvNumber(m.curves.deletion.auc), ",", CsvNumber(m.curves.insertion.auc), ",",
                      CsvNumber(f.full_score), ",", CsvNumber(f.reference_score), ",",
                      f.predicted_pixels, ",", random ? "" : CsvNumber(m.explain_ms), ",",
                      random ? "" : CsvNumber(m.explained_target), ",",
                      random ? "" : CsvNumber(m.relevance_sum), ",",
                      CsvNumber(m.curves.deletion.relative_auc), ",",
                      CsvNumber(m.curves.insertion.relative_auc), "\n");
    }
  }
  return out;
}

std::string FormatDeletionCurvesCsv(const std::vector<DeletionMethodSummary>& summaries) {
  std::string out = "method,curve,fraction,mean,std\n";
  for (const DeletionMethodSummary& s : summaries) {
    for (int curve = 0; curve < 2; ++curve) {
      const auto& mean = curve == 0 ? s.deletion_mean : s.insertion_mean;
      const auto& std = curve == 0 ? s.deletion_std : s.insertion_std;
      for (size_t k = 0; k < s.fraction.size(); ++k) {
        absl::StrAppend(&out, CsvField(s.label), ",", curve == 0 ? "deletion" : "insertion", ",",
                        CsvNumber(s.fraction[k]), ",", CsvNumber(mean[k]), ",", CsvNumber(std[k]),
                        "\n");
      }
    }
  }
  return out;
}

std::string FormatDeletionMarkdown(const std::vector<DeletionMethodSummary>& summaries) {
  std::string out =
      "| method | deletion AUC (lower is better) | insertion AUC (higher is better) | deletion "
      "AUC of T/T(x) | insertion AUC of T/T(x) | frames | explain ms |\n"
      "|---|---|---|---|---|---|---|\n";
  auto cell = [](const MeanStd& m) { return absl::StrFormat("%.3f ± %.3f", m.mean, m.std); };
  for (const DeletionMethodSummary& s : summaries) {
    absl::StrAppend(
        &out, "| `", s.label, "` | ", cell(s.deletion_auc), " | ", cell(s.insertion_auc), " | ",
        cell(s.deletion_relative_auc), " | ", cell(s.insertion_relative_auc), " | ",
        s.deletion_auc.n, " | ",
        s.mean_explain_ms > 0 ? absl::StrFormat("%.0f", s.mean_explain_ms) : std::string("-"),
        " |\n");
  }
  return out;
}

std::string FormatDeletionJson(const std::vector<FrameDeletionResult>& frames,
                               const std::vector<DeletionMethodSummary>& summaries,
                               const std::vector<PairedComparison>& comparisons,
                               const std::vector<DeletionMethod>& methods,
                               const DeletionStudyOptions& options, const std::string& model) {
  Json root;
  root["model"] = model;
  Json target = {{"kind", "sum over the originally predicted region of the class logit"},
                 {"class_index", options.class_index},
                 {"contrastive", options.contrastive}};
  root["target"] = target;
  root["options"] = {{"patch", options.flipping.patch},
                     {"steps", options.flipping.steps},
                     {"reference", options.reference},
                     {"blur_sigma", options.blur_sigma},
                     {"random_seeds", options.random_seeds},
                     {"seed_base", options.seed_base},
                     {"normalisation", "(T - T_reference) / (T_frame - T_reference)"},
                     {"relative", "T / T_frame"}};
  Json ms = Json::array();
  for (const DeletionMethod& m : methods) {
    ms.push_back({{"label", m.label},
                  {"method", m.method},
                  {"parameters", m.parameters},
                  {"rank_by_absolute_relevance", m.absolute}});
  }
  root["methods"] = ms;
  int used = 0, skipped = 0;
  for (const FrameDeletionResult& f : frames) (f.skipped ? skipped : used)++;
  root["frames_used"] = used;
  root["frames_skipped"] = skipped;
  root["reference_retention"] = MeanStdJson(ReferenceRetention(frames));
  Json summary = Json::array();
  for (const DeletionMethodSummary& s : summaries) {
    summary.push_back({{"method", s.label},
                       {"deletion_auc", MeanStdJson(s.deletion_auc)},
                       {"insertion_auc", MeanStdJson(s.insertion_auc)},
                       {"deletion_relative_auc", MeanStdJson(s.deletion_relative_auc)},
                       {"insertion_relative_auc", MeanStdJson(s.insertion_relative_auc)},
                       {"mean_explain_ms", s.mean_explain_ms},
                       {"fraction", s.fraction},
                       {"deletion_mean", s.deletion_mean},
                       {"deletion_std", s.deletion_std},
                       {"insertion_mean", s.insertion_mean},
                       {"insertion_std", s.insertion_std}});
  }
  root["summary"] = summary;
  Json cmp = Json::array();
  for (const PairedComparison& c : comparisons) {
    cmp.push_back({{"a", c.a},
                   {"b", c.b},
                   {"deletion_difference", MeanStdJson(c.deletion_difference)},
                   {"deletion_wins", c.deletion_wins},
                   {"deletion_t", c.deletion_t},
                   {"insertion_difference", MeanStdJson(c.insertion_difference)},
                   {"insertion_wins", c.insertion_wins},
                   {"insertion_t", c.insertion_t}});
  }
  root["comparisons"] = cmp;
  Json per_frame = Json::array();
  for (const FrameDeletionResult& f : frames) {
    Json jf = {{"stem", f.stem},
               {"skipped", f.skipped},
               {"predicted_pixels", f.predicted_pixels},
               {"patches", f.patches},
               {"full_score", f.full_score},
               {"reference_score", f.reference_score}};
    Json jm = Json::object();
    for (const auto& [label, m] : f.methods) {
      jm[label] = {{"deletion", CurveJson(m.curves.deletion)},
                   {"insertion", CurveJson(m.curves.insertion)},
                   {"explain_ms", m.explain_ms},
                   {"explained_target", m.explained_target},
                   {"relevance_sum", m.relevance_sum}};
    }
    jf["methods"] = jm;
    per_frame.push_back(jf);
  }
  root["frames"] = per_frame;
  return root.dump(2, ' ', false, Json::error_handler_t::replace) + "\n";
}

cv::Mat RenderDeletionPlot(const std::vector<DeletionMethodSummary>& summaries, bool insertion,
                           const std::string& title) {
  std::vector<plot::PlotSeries> series;
  for (size_t i = 0; i < summaries.size(); ++i) {
    const DeletionMethodSummary& s = summaries[i];
    plot::PlotSeries ser;
    const MeanStd& auc = insertion ? s.insertion_auc : s.deletion_auc;
    ser.label = absl::StrFormat("%s (AUC %.3f)", s.label, auc.mean);
    ser.x = s.fraction;
    ser.y = insertion ? s.insertion_mean : s.deletion_mean;
    // A band per method would bury the lines under each other; only the random floor gets one.
    if (s.label == "random") {
      ser.spread = insertion ? s.insertion_std : s.deletion_std;
      ser.color = cv::Scalar(130, 130, 130);
      ser.dashed = true;
    } else {
      ser.color = plot::SeriesColor(static_cast<int>(i));
    }
    series.push_back(std::move(ser));
  }
  plot::LinePlotOptions options;
  options.title = title;
  options.x_label = insertion ? "fraction of patches inserted (most relevant first)"
                              : "fraction of patches deleted (most relevant first)";
  options.y_label = "normalised target (1 = frame, 0 = reference)";
  options.x_range = std::make_pair(0.0, 1.0);
  options.legend = insertion ? plot::LinePlotOptions::Legend::kBottomRight
                             : plot::LinePlotOptions::Legend::kTopRight;
  options.note = "mean over frames; grey band: random order +-1 std";
  return plot::RenderLinePlot(series, options);
}

}  // namespace fringe::analysis
