#include "analysis/analyze_runner.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <opencv2/imgproc.hpp>
#include <optional>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "analysis/blur_sweep.h"
#include "analysis/deletion_study.h"
#include "analysis/filter_grid.h"
#include "analysis/local_model.h"
#include "analysis/logit_maps.h"
#include "analysis/relevance_spectrum.h"
#include "base/file_util.h"
#include "client/cli/cli_util.h"
#include "client/cli/overlay.h"
#include "common/progress_bar.h"
#include "data/image_io.h"
#include "data/labelled_dataset.h"
#include "models/frame_segmenter.h"
#include "models/repository_layout.h"
#include "models/torch_models.h"
#include "plot/plot.h"

namespace fringe {
namespace {

namespace fs = std::filesystem;
using analysis::LocalModel;
using Json = nlohmann::ordered_json;

// One image to analyse, from the command line or a labelled folder.
struct InputImage {
  std::string stem;
  std::string path;
  std::string mask_path;  // Empty when unknown.
  std::optional<double> dose;
  std::optional<double> pixel_size_nm;  // From the folder's manifest (beats the file's).
};

struct LoadedImage {
  cv::Mat pixels;
  cv::Mat truth;             // CV_8U 0/1, empty when there is no mask.
  double pixel_size_nm = 0;  // 0 when neither the arguments, the image nor the model say.
};

absl::StatusOr<std::vector<InputImage>> ListInputs(const AnalyzeArgs& args, bool need_masks) {
  std::vector<InputImage> inputs;
  if (!args.data_dir.empty()) {
    auto dataset = data::LabelledDataset::Open(args.data_dir);
    if (!dataset.ok()) return dataset.status();
    for (const data::DatasetItem& item : dataset->items()) {
      inputs.push_back({item.stem, item.image_path, item.mask_path, item.dose, item.pixel_size_nm});
    }
  }
  if (!args.masks.empty() && args.masks.size() != args.images.size()) {
    return absl::InvalidArgumentError(absl::StrCat("--masks lists ", args.masks.size(),
                                                   " files for ", args.images.size(), " images"));
  }
  for (size_t i = 0; i < args.images.size(); ++i) {
    inputs.push_back({fs::path(args.images[i]).stem().string(), args.images[i],
                      args.masks.empty() ? "" : args.masks[i], std::nullopt, std::nullopt});
  }
  if (args.limit > 0 && static_cast<int>(inputs.size()) > args.limit) inputs.resize(args.limit);
  if (inputs.empty()) {
    return absl::InvalidArgumentError("no images: give IMAGES or --data DIR");
  }
  if (need_masks) {
    for (const InputImage& in : inputs) {
      if (in.mask_path.empty()) {
        return absl::InvalidArgumentError(absl::StrCat(
            in.path, " has no true mask: use --data DIR (a labelled folder) or --masks"));
      }
    }
  }
  return inputs;
}

absl::StatusOr<LoadedImage> Load(const InputImage& in, const AnalyzeArgs& args,
                                 const LocalModel& model) {
  auto image = data::ReadImage(in.path);
  if (!image.ok()) return image.status();
  LoadedImage out;
  image->pixels.convertTo(out.pixels, CV_32F);
  if (!in.mask_path.empty()) {
    auto mask = data::ReadMask(in.mask_path);
    if (!mask.ok()) return mask.status();
    if (mask->size() != out.pixels.size()) {
      return absl::InvalidArgumentError(absl::StrCat(in.mask_path, " is ", mask->cols, "x",
                                                     mask->rows, " but ", in.path, " is ",
                                                     out.pixels.cols, "x", out.pixels.rows));
    }
    out.truth = *mask;
  }
  // Most specific first: the command line, the folder's manifest, the file, the model.
  if (args.pixel_size_nm > 0) {
    out.pixel_size_nm = args.pixel_size_nm;
  } else if (in.pixel_size_nm) {
    out.pixel_size_nm = *in.pixel_size_nm;
  } else if (image->pixel_size_nm) {
    out.pixel_size_nm = *image->pixel_size_nm;
  } else {
    out.pixel_size_nm = model.config().pixel_size_nm();
  }
  return out;
}

std::string Out(const AnalyzeArgs& args, const std::string& name) {
  return (fs::path(args.out_dir) / name).string();
}

// Collects write errors so one failed file does not hide the others.
class Writer {
 public:
  explicit Writer(const AnalyzeArgs& args) : args_(args) {}
  void Text(const std::string& name, const std::string& text) {
    Record(name, WriteFileAtomically(Out(args_, name), text));
  }
  void Image(const std::string& name, const cv::Mat& image) {
    Record(name, WriteImageFile(Out(args_, name), image));
  }
  void Npy(const std::string& name, const cv::Mat& m) {
    Record(name, data::WriteNpy(Out(args_, name), m));
  }
  int failures() const { return failures_; }
  const std::vector<std::string>& written() const { return written_; }

 private:
  void Record(const std::string& name, const absl::Status& s) {
    if (s.ok()) {
      written_.push_back(name);
    } else {
      ReportError("writing " + name, s);
      ++failures_;
    }
  }
  const AnalyzeArgs& args_;
  int failures_ = 0;
  std::vector<std::string> written_;
};

// The predicted region of `class_index` inside the frame (CV_8U 0/1, the prepared size).
cv::Mat PredictedRegion(const std::vector<cv::Mat>& logits, const cv::Rect& valid,
                        int class_index) {
  cv::Mat region = cv::Mat::zeros(logits[0].size(), CV_8U);
  const cv::Mat argmax = analysis::ArgmaxClass(logits);
  region(valid).setTo(1, argmax(valid) == class_index);
  return region;
}

std::string ClassName(const LocalModel& model, int c) {
  return c < model.config().classes_size() ? model.config().classes(c) : absl::StrCat("class", c);
}

int Finish(const Writer& writer, int failed_images, const AnalyzeArgs& args) {
  std::printf("wrote %zu files to %s\n", writer.written().size(), args.out_dir.c_str());
  if (failed_images > 0) std::fprintf(stderr, "%d image(s) failed\n", failed_images);
  return writer.failures() > 0 || failed_images > 0 ? 1 : 0;
}

// ---- filters ----------------------------------------------------------------------------

int RunFilters(const AnalyzeArgs& args, const LocalModel& model) {
  const std::vector<cv::Mat> filters = model.FirstLayerFilters();
  const double pixel = args.pixel_size_nm > 0 ? args.pixel_size_nm : model.config().pixel_size_nm();
  analysis::FilterGridOptions options;
  options.pixel_size_nm = pixel;
  options.columns = std::min<int>(4, std::max<size_t>(1, filters.size()));
  options.title = absl::StrFormat(
      "%s first-layer filters (BN folded): weights | |FFT|%s", model.label(),
      pixel > 0 ? absl::StrFormat(", rings: Au {111}/{200} at %.4g nm/px", pixel) : "");
  const std::vector<analysis::FilterSummary> summary =
      analysis::SummarizeFilters(filters, options.spectrum_size, pixel);
  Writer w(args);
  w.Image("filters.png", analysis::RenderFilterGrid(filters, options));
  w.Text("filters.csv", analysis::FormatFilterWeightsCsv(filters));
  Json root;
  root["model"] = model.label();
  root["pixel_size_nm"] = pixel > 0 ? Json(pixel) : Json(nullptr);
  root["note"] = "weights of down.0.first with BatchNorm folded in; frequencies in cycles/px";
  Json list = Json::array();
  std::printf("%-7s %10s %10s %10s %10s %10s  %s\n", "filter", "dc_gain", "l2", "peak c/px",
              "angle deg", "Au band E", "kind");
  for (const analysis::FilterSummary& s : summary) {
    list.push_back({{"filter", s.index},
                    {"dc_gain", s.dc_gain},
                    {"l2_norm", s.l2_norm},
                    {"peak_frequency", s.peak_frequency},
                    {"peak_orientation_deg", s.peak_orientation_deg},
                    {"au_band_energy_fraction", s.au_band_energy_fraction},
                    {"kind", s.kind}});
    std::printf("%-7d %10.4f %10.4f %10.4f %10.1f %10.3f  %s\n", s.index, s.dc_gain, s.l2_norm,
                s.peak_frequency, s.peak_orientation_deg, s.au_band_energy_fraction,
                s.kind.c_str());
  }
  root["filters"] = list;
  w.Text("filters.json", root.dump(2) + "\n");
  return Finish(w, 0, args);
}

// ---- spectrum ---------------------------------------------------------------------------

absl::StatusOr<std::map<std::string, std::string>> ParseKeyValues(
    const std::vector<std::string>& params) {
  std::map<std::string, std::string> out;
  for (const std::string& p : params) {
    const size_t eq = p.find('=');
    if (eq == std::string::npos || eq == 0) {
      return absl::InvalidArgumentError(absl::StrCat("--param ", p, ": expected KEY=VALUE"));
    }
    out[p.substr(0, eq)] = p.substr(eq + 1);
  }
  return out;
}

Json SpectrumSummaryJson(const analysis::SpectrumSummary& s) {
  return {{"peak_frequency", s.peak_frequency},
          {"peak_amplitude", s.peak_amplitude},
          {"au_band_contrast", s.au_band_contrast},
          {"f111", s.f111},
          {"f200", s.f200}};
}

int RunSpectrum(const AnalyzeArgs& args, const LocalModel& model,
                const std::vector<InputImage>& inputs) {
  auto params = ParseKeyValues(args.params);
  if (!params.ok()) return ReportError("--param", params.status());
  Writer w(args);
  std::error_code ec;
  if (args.per_frame) fs::create_directories(fs::path(args.out_dir) / "frames", ec);
  std::vector<analysis::RadialSpectrum> relevance_spectra, input_spectra;
  Json per_image = Json::array();
  double bin_width = 0;
  bool per_nm = false;
  int failed = 0;
  double pixel_for_plot = 0;
  ProgressBar bar("spectrum", static_cast<int64_t>(inputs.size()));
  for (size_t i = 0; i < inputs.size(); ++i) {
    const InputImage& in = inputs[i];
    auto loaded = Load(in, args, model);
    if (!loaded.ok()) {
      ReportError(in.path, loaded.status());
      ++failed;
      continue;
    }
    const analysis::PreparedFrame prepared =
        analysis::PrepareFrame(loaded->pixels, model.input_multiple());
    auto logits = model.Logits({prepared.input});
    if (!logits.ok()) return ReportError(in.path, logits.status());
    AttributionRequest request;
    request.method = args.method;
    request.parameters = *params;
    request.target.kind = AttributionTarget::Kind::kMask;
    request.target.mask = PredictedRegion((*logits)[0], prepared.valid, args.class_index);
    request.target.class_index = args.class_index;
    request.target.contrastive = args.contrastive;
    if (cv::countNonZero(request.target.mask) == 0) {
      std::fprintf(stderr, "note: %s: no pixel predicted %s, skipped\n", in.stem.c_str(),
                   ClassName(model, args.class_index).c_str());
      per_image.push_back({{"stem", in.stem}, {"skipped", "empty predicted region"}});
      continue;
    }
    auto explained = model.explainer().Explain(prepared.input, request);
    if (!explained.ok()) return ReportError(args.method, explained.status());
    const cv::Mat relevance = explained->relevance(prepared.valid);
    // Every spectrum shares one ring width so they average ring by ring: the first frame's
    // Fourier sample spacing.
    analysis::RadialSpectrumOptions options;
    options.pixel_size_nm = loaded->pixel_size_nm;
    per_nm = options.pixel_size_nm > 0;
    if (bin_width == 0) {
      bin_width =
          1.0 / std::min(relevance.rows, relevance.cols) / (per_nm ? options.pixel_size_nm : 1.0);
      pixel_for_plot = loaded->pixel_size_nm;
    }
    options.bin_width = bin_width;
    analysis::RadialSpectrum rs = analysis::ComputeRadialSpectrum(relevance, options);
    analysis::RadialSpectrum is =
        analysis::ComputeRadialSpectrum(prepared.input(prepared.valid), options);
    analysis::NormaliseSpectrum(&rs);
    analysis::NormaliseSpectrum(&is);
    const double min_f = per_nm ? 1.0 : 0.05;  // Below 1/nm (or 0.05 c/px): particle-scale blobs.
    const analysis::SpectrumSummary srs =
        analysis::SummarizeSpectrum(rs, loaded->pixel_size_nm, min_f);
    const analysis::SpectrumSummary sis =
        analysis::SummarizeSpectrum(is, loaded->pixel_size_nm, min_f);
    per_image.push_back({{"stem", in.stem},
                         {"pixel_size_nm", loaded->pixel_size_nm},
                         {"target", explained->target_value},
                         {"relevance", SpectrumSummaryJson(srs)},
                         {"input", SpectrumSummaryJson(sis)}});
    if (args.per_frame) {
      const std::string title = absl::StrFormat("%s: %s relevance vs input spectrum, %s",
                                                model.label(), args.method, in.stem);
      w.Image((fs::path("frames") / (in.stem + "_spectrum.png")).string(),
              analysis::RenderSpectrumPlot(
                  {{args.method + " relevance", rs, {}}, {"input frame", is, {}}},
                  loaded->pixel_size_nm, title));
      w.Image((fs::path("frames") / (in.stem + "_relevance.png")).string(),
              RenderRelevance(loaded->pixels, relevance));
    }
    relevance_spectra.push_back(std::move(rs));
    input_spectra.push_back(std::move(is));
    bar.Update(static_cast<int64_t>(i + 1), in.stem);
  }
  bar.Finish();
  if (relevance_spectra.empty()) {
    std::fprintf(stderr, "error: no frame could be explained\n");
    return 1;
  }
  const analysis::RadialSpectrum rmean = analysis::AverageSpectra(relevance_spectra);
  const analysis::RadialSpectrum imean = analysis::AverageSpectra(input_spectra);
  const std::vector<double> rstd = analysis::SpectraStd(relevance_spectra, rmean);
  const std::vector<double> istd = analysis::SpectraStd(input_spectra, imean);
  const double min_f = per_nm ? 1.0 : 0.05;
  const analysis::SpectrumSummary rsum = analysis::SummarizeSpectrum(rmean, pixel_for_plot, min_f);
  const analysis::SpectrumSummary isum = analysis::SummarizeSpectrum(imean, pixel_for_plot, min_f);
  const std::string title =
      absl::StrFormat("%s: radially averaged |FFT| of %s relevance vs input (mean of %d frames)",
                      model.label(), args.method, static_cast<int>(relevance_spectra.size()));
  w.Image("spectrum.png",
          analysis::RenderSpectrumPlot(
              {{args.method + " relevance (+-1 std)", rmean, rstd}, {"input frame", imean, {}}},
              pixel_for_plot, title));
  analysis::RadialSpectrum rstd_s = rmean, istd_s = imean;
  rstd_s.amplitude = rstd;
  istd_s.amplitude = istd;
  w.Text("spectrum.csv", analysis::FormatSpectrumCsv({{"relevance_mean", rmean, {}},
                                                      {"relevance_std", rstd_s, {}},
                                                      {"input_mean", imean, {}},
                                                      {"input_std", istd_s, {}}}));
  Json root;
  root["model"] = model.label();
  root["method"] = args.method;
  root["parameters"] = *params;
  root["target"] = {{"kind", "predicted region"},
                    {"class_index", args.class_index},
                    {"contrastive", args.contrastive}};
  root["unit"] = rmean.unit;
  root["bin_width"] = rmean.bin_width;
  root["normalisation"] = "each spectrum divided by its mean amplitude (DC ring excluded)";
  root["peak_search_min_frequency"] = min_f;
  root["mean"] = {{"relevance", SpectrumSummaryJson(rsum)}, {"input", SpectrumSummaryJson(isum)}};
  root["frames"] = per_image;
  w.Text("spectrum.json", root.dump(2) + "\n");
  std::printf(
      "%s over %zu frames (%s): relevance peak %.3g %s, Au-band contrast %.2f; input "
      "peak %.3g, Au-band contrast %.2f (Au {111} at %.3g, {200} at %.3g)\n",
      args.method.c_str(), relevance_spectra.size(), rmean.unit.c_str(), rsum.peak_frequency,
      rmean.unit.c_str(), rsum.au_band_contrast, isum.peak_frequency, isum.au_band_contrast,
      rsum.f111, rsum.f200);
  return Finish(w, failed, args);
}

// ---- deletion ---------------------------------------------------------------------------

int RunDeletion(const AnalyzeArgs& args, const LocalModel& model,
                const std::vector<InputImage>& inputs) {
  auto methods = analysis::ParseDeletionMethods(args.methods, args.params);
  if (!methods.ok()) return ReportError("--methods / --param", methods.status());
  analysis::DeletionStudyOptions options;
  options.flipping.patch = args.patch;
  options.flipping.steps = args.steps;
  options.flipping.batch = args.batch;
  options.reference = args.reference;
  options.blur_sigma = args.reference_sigma;
  options.random_seeds = args.random_seeds;
  options.class_index = args.class_index;
  options.contrastive = args.contrastive;

  Writer w(args);
  std::vector<analysis::FrameDeletionResult> results;
  int failed = 0;
  int64_t done = 0;
  ProgressBar bar("deletion", static_cast<int64_t>(inputs.size() * methods->size()));
  cv::Mat example_frame;
  analysis::FrameDeletionResult example;
  for (const InputImage& in : inputs) {
    auto loaded = Load(in, args, model);
    if (!loaded.ok()) {
      ReportError(in.path, loaded.status());
      ++failed;
      done += static_cast<int64_t>(methods->size());
      continue;
    }
    options.keep_maps = example_frame.empty();
    auto result = analysis::RunDeletionStudyOnFrame(
        model, loaded->pixels, in.stem, *methods, options,
        [&](const std::string& label) { bar.Update(++done, in.stem + " " + label); });
    // Errors here come from the methods or the model and would repeat on every frame.
    if (!result.ok()) {
      bar.Finish();
      return ReportError(in.stem, result.status());
    }
    if (result->skipped) {
      std::fprintf(stderr, "note: %s: no pixel predicted %s, skipped\n", in.stem.c_str(),
                   ClassName(model, args.class_index).c_str());
      done += static_cast<int64_t>(methods->size());
    } else if (options.keep_maps) {
      example_frame = loaded->pixels;
      example = *result;
    }
    for (auto& [label, m] : result->methods) m.relevance.release();
    results.push_back(*std::move(result));
  }
  bar.Finish();
  const std::vector<analysis::DeletionMethodSummary> summaries =
      analysis::SummarizeDeletionStudy(results, *methods);
  std::vector<analysis::PairedComparison> comparisons;
  auto listed = [&](const std::string& label) {
    return std::any_of(methods->begin(), methods->end(),
                       [&](const analysis::DeletionMethod& m) { return m.label == label; });
  };
  for (const analysis::DeletionMethod& m : *methods) {
    if (m.label != "random" && listed("random")) {
      comparisons.push_back(analysis::CompareMethods(results, m.label, "random"));
    }
  }
  for (const analysis::DeletionMethod& m : *methods) {
    if (m.label != "random" && m.label != "gradient" && listed("gradient")) {
      comparisons.push_back(analysis::CompareMethods(results, m.label, "gradient"));
    }
  }
  int used = 0;
  for (const auto& r : results) used += r.skipped ? 0 : 1;
  const std::string setup = absl::StrFormat(
      "%d frames, %dpx patches, %d steps, reference %s", used, args.patch, args.steps,
      args.reference == "blur" ? absl::StrFormat("blur sigma %.3g px", args.reference_sigma)
                               : std::string("mean (0 after standardisation)"));
  w.Image("deletion.png", analysis::RenderDeletionPlot(
                              summaries, false, absl::StrCat(model.label(), " deletion: ", setup)));
  w.Image("insertion.png",
          analysis::RenderDeletionPlot(summaries, true,
                                       absl::StrCat(model.label(), " insertion: ", setup)));
  w.Text("deletion_frames.csv", analysis::FormatDeletionFramesCsv(results));
  w.Text("deletion_curves.csv", analysis::FormatDeletionCurvesCsv(summaries));
  w.Text("deletion.json", analysis::FormatDeletionJson(results, summaries, comparisons, *methods,
                                                       options, model.label()));
  const std::string table = analysis::FormatDeletionMarkdown(summaries);
  w.Text("deletion_table.md", table);
  if (!example_frame.empty()) {
    std::vector<cv::Mat> panels = {plot::CaptionedPanel(DisplayImage(example_frame), example.stem)};
    for (const analysis::DeletionMethod& m : *methods) {
      auto it = example.methods.find(m.label);
      if (it == example.methods.end() || it->second.relevance.empty()) continue;
      panels.push_back(plot::CaptionedPanel(
          RenderRelevance(example_frame, it->second.relevance),
          absl::StrFormat("%s del %.2f ins %.2f", m.label, it->second.curves.deletion.auc,
                          it->second.curves.insertion.auc)));
    }
    // Rows of at most four panels, so the picture stays readable at 512-px frames.
    std::vector<cv::Mat> rows;
    for (size_t i = 0; i < panels.size(); i += 4) {
      rows.push_back(plot::HorizontalConcat(std::vector<cv::Mat>(
          panels.begin() + i, panels.begin() + std::min(panels.size(), i + 4))));
    }
    w.Image("examples.png", plot::VerticalConcat(rows));
  }
  std::printf("%s, %s (target: sum of %s logits%s over the predicted region)\n%s",
              model.label().c_str(), setup.c_str(), ClassName(model, args.class_index).c_str(),
              args.contrastive ? " (contrastive)" : "", table.c_str());
  for (const analysis::PairedComparison& c : comparisons) {
    std::printf(
        "%s - %s: deletion %+.3f +- %.3f (t %.1f, %d/%d frames lower), insertion %+.3f "
        "+- %.3f (t %.1f, %d/%d higher)\n",
        c.a.c_str(), c.b.c_str(), c.deletion_difference.mean, c.deletion_difference.std,
        c.deletion_t, c.deletion_wins, c.deletion_difference.n, c.insertion_difference.mean,
        c.insertion_difference.std, c.insertion_t, c.insertion_wins, c.insertion_difference.n);
  }
  const analysis::MeanStd kept = analysis::ReferenceRetention(results);
  std::printf("the reference keeps %.2f +- %.2f of the frame's target T on average\n", kept.mean,
              kept.std);
  if (kept.n > 0 && kept.mean > 0.5) {
    std::printf(
        "warning: the reference keeps more than half of T, so the curves normalised to "
        "(T - T_ref) / (T(x) - T_ref) divide by a small difference: read the T/T(x) "
        "columns\n");
  }
  if (used == 0) {
    std::fprintf(stderr, "error: no frame had a predicted region to explain\n");
    return 1;
  }
  return Finish(w, failed, args);
}

// ---- logits -----------------------------------------------------------------------------

int RunLogits(const AnalyzeArgs& args, const LocalModel& model,
              const std::vector<InputImage>& inputs) {
  Writer w(args);
  int failed = 0;
  std::vector<std::string> names;
  for (int c = 0; c < model.num_classes(); ++c) names.push_back(ClassName(model, c));
  ProgressBar bar("logits", static_cast<int64_t>(inputs.size()));
  for (size_t i = 0; i < inputs.size(); ++i) {
    const InputImage& in = inputs[i];
    auto loaded = Load(in, args, model);
    if (!loaded.ok()) {
      ReportError(in.path, loaded.status());
      ++failed;
      continue;
    }
    const analysis::PreparedFrame prepared =
        analysis::PrepareFrame(loaded->pixels, model.input_multiple());
    auto logits = model.Logits({prepared.input});
    if (!logits.ok()) return ReportError(in.path, logits.status());
    std::vector<cv::Mat> maps;
    for (const cv::Mat& m : (*logits)[0]) maps.push_back(m(prepared.valid).clone());
    const cv::Mat argmax = analysis::ArgmaxClass(maps);
    std::vector<std::pair<std::string, cv::Mat>> leading = {
        {in.stem, DisplayImage(loaded->pixels)},
        {"argmax (particle red)", RenderOverlay(loaded->pixels, argmax == args.class_index)}};
    if (!loaded->truth.empty()) {
      leading.push_back({"true mask", RenderOverlay(loaded->pixels, loaded->truth)});
    }
    w.Image(in.stem + "_logits.png", analysis::RenderLogitMaps(leading, maps, names));
    const auto stats = analysis::ComputeLogitStats(maps, names);
    w.Text(in.stem + "_logits.json",
           analysis::FormatLogitStatsJson(in.stem, model.label(), stats, maps));
    for (size_t c = 0; c < maps.size(); ++c) {
      w.Npy(absl::StrCat(in.stem, "_logit_", names[c], ".npy"), maps[c]);
    }
    std::string line = in.stem + ":";
    for (const auto& s : stats) {
      absl::StrAppend(&line, absl::StrFormat(" %s [%.2f, %.2f] mean %.2f (%.2f where argmax)",
                                             s.name, s.min, s.max, s.mean, s.mean_where_argmax));
    }
    std::printf("%s\n", line.c_str());
    bar.Update(static_cast<int64_t>(i + 1), in.stem);
  }
  bar.Finish();
  return Finish(w, failed, args);
}

// ---- blur -------------------------------------------------------------------------------

absl::StatusOr<std::vector<double>> ParseSigmas(const std::string& text) {
  std::vector<double> sigmas;
  for (absl::string_view part : absl::StrSplit(text, ',', absl::SkipWhitespace())) {
    double s = 0;
    if (!absl::SimpleAtod(part, &s) || !(s >= 0) || s > 1000) {
      return absl::InvalidArgumentError(
          absl::StrCat("\"", std::string(part), "\" is not a blur sigma in pixels (0..1000)"));
    }
    sigmas.push_back(s);
  }
  if (sigmas.empty()) return absl::InvalidArgumentError("no sigmas");
  if (!std::is_sorted(sigmas.begin(), sigmas.end())) {
    return absl::InvalidArgumentError("sigmas must be in increasing order");
  }
  return sigmas;
}

int RunBlur(const AnalyzeArgs& args, const LocalModel& model,
            const std::vector<InputImage>& inputs) {
  auto sigmas = ParseSigmas(args.sigmas);
  if (!sigmas.ok()) return ReportError("--sigmas", sigmas.status());
  FrameSegmenterOptions seg;
  seg.tile_size = model.config().tile_size();
  seg.tile_margin = model.config().tile_margin();
  Writer w(args);
  std::vector<analysis::BlurSweepFrame> frames;
  std::vector<cv::Mat> example_masks;
  cv::Mat example_frame;
  int failed = 0;
  double pixel_sum = 0;
  int pixel_n = 0;
  ProgressBar bar("blur", static_cast<int64_t>(inputs.size()));
  for (size_t i = 0; i < inputs.size(); ++i) {
    const InputImage& in = inputs[i];
    auto loaded = Load(in, args, model);
    if (!loaded.ok()) {
      ReportError(in.path, loaded.status());
      ++failed;
      continue;
    }
    const bool keep = example_frame.empty();
    const analysis::FrameSegmentFn segment = [&](const cv::Mat& frame) -> absl::StatusOr<cv::Mat> {
      auto out = SegmentFrame(model.segmenter(), frame, seg);
      if (!out.ok()) return out.status();
      const cv::Mat mask = out->mask == args.class_index;
      if (keep) example_masks.push_back(mask);
      return mask;
    };
    auto result = analysis::RunBlurSweepOnFrame(loaded->pixels, loaded->truth, *sigmas, segment);
    if (!result.ok()) return ReportError(in.path, result.status());
    result->stem = in.stem;
    result->dose = in.dose;
    frames.push_back(*std::move(result));
    if (keep) example_frame = loaded->pixels;
    if (loaded->pixel_size_nm > 0) {
      pixel_sum += loaded->pixel_size_nm;
      ++pixel_n;
    }
    bar.Update(static_cast<int64_t>(i + 1), in.stem);
  }
  bar.Finish();
  if (frames.empty()) {
    std::fprintf(stderr, "error: no frame could be segmented\n");
    return 1;
  }
  const double pixel = pixel_n == static_cast<int>(frames.size()) ? pixel_sum / pixel_n : 0.0;
  const std::vector<analysis::BlurSweepPoint> points =
      analysis::SummarizeBlurSweep(frames, *sigmas);
  const std::string title =
      absl::StrFormat("%s: Dice vs Gaussian blur of the input (%d frames%s)", model.label(),
                      static_cast<int>(frames.size()),
                      pixel > 0 ? absl::StrFormat(", mean pixel %.4g nm", pixel) : std::string());
  w.Image("blur_sweep.png", analysis::RenderBlurSweepPlot(points, pixel, title));
  w.Text("blur_sweep.csv", analysis::FormatBlurSweepCsv(frames, *sigmas));
  w.Text("blur_sweep.json", analysis::FormatBlurSweepJson(points, frames, model.label(), pixel));
  if (!example_frame.empty() && example_masks.size() == sigmas->size()) {
    std::vector<cv::Mat> panels;
    for (size_t s = 0; s < sigmas->size(); ++s) {
      cv::Mat small;
      const cv::Mat overlay =
          RenderOverlay(analysis::BlurFrame(example_frame, (*sigmas)[s]), example_masks[s]);
      const double f = 192.0 / std::max(overlay.rows, overlay.cols);
      cv::resize(overlay, small, cv::Size(), std::min(1.0, f), std::min(1.0, f), cv::INTER_AREA);
      panels.push_back(
          plot::CaptionedPanel(small, absl::StrFormat("sigma %.3g px: Dice %.2f", (*sigmas)[s],
                                                      ComputeMetrics(frames[0].counts[s]).dice)));
    }
    std::vector<cv::Mat> rows;
    for (size_t i = 0; i < panels.size(); i += 4) {
      rows.push_back(plot::HorizontalConcat(std::vector<cv::Mat>(
          panels.begin() + i, panels.begin() + std::min(panels.size(), i + 4))));
    }
    w.Image("blur_examples.png", plot::VerticalConcat(rows));
  }
  std::printf("%8s %10s %10s %12s %10s\n", "sigma_px", "mean_dice", "std", "pooled_dice",
              "predicted");
  for (const analysis::BlurSweepPoint& p : points) {
    std::printf("%8.3g %10.4f %10.4f %12.4f %10.4f\n", p.sigma, p.mean_dice, p.std_dice,
                p.pooled_dice, p.mean_predicted_fraction);
  }
  return Finish(w, failed, args);
}

}  // namespace

int RunAnalyze(AnalyzeArgs args) {
  SetTorchIntraOpThreads(args.threads > 0 ? args.threads
                                          : std::max(1u, std::thread::hardware_concurrency()));
  std::string version_dir = args.model_dir;
  if (version_dir.empty()) {
    auto resolved = repository_layout::ResolveVersionDir(args.repository, args.model);
    if (!resolved.ok()) return ReportError("--model", resolved.status());
    version_dir = *resolved;
  }
  auto model = LocalModel::Load(version_dir);
  if (!model.ok()) return ReportError("loading " + version_dir, model.status());
  std::error_code ec;
  fs::create_directories(args.out_dir, ec);
  if (ec) return ReportError("creating " + args.out_dir, absl::InternalError(ec.message()));
  if (args.what == "filters") return RunFilters(args, **model);
  auto inputs = ListInputs(args, args.what == "blur");
  if (!inputs.ok()) return ReportError("inputs", inputs.status());
  if (args.what == "spectrum") return RunSpectrum(args, **model, *inputs);
  if (args.what == "deletion") return RunDeletion(args, **model, *inputs);
  if (args.what == "logits") return RunLogits(args, **model, *inputs);
  if (args.what == "blur") return RunBlur(args, **model, *inputs);
  std::fprintf(stderr, "error: unknown analysis \"%s\"\n", args.what.c_str());
  return 2;
}

}  // namespace fringe
