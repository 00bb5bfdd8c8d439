#include "study/study_runner.h"

#include <google/protobuf/text_format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <map>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <random>
#include <set>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "analysis/relevance_spectrum.h"
#include "base/file_util.h"
#include "base/sha256.h"
#include "common/frame_stats.h"
#include "common/pixel_scale.h"
#include "common/progress_bar.h"
#include "data/image_io.h"
#include "data/labelled_dataset.h"
#include "models/attribution/attribution.h"
#include "models/frame_segmenter.h"
#include "models/mac_count.h"
#include "models/model_config.h"
#include "models/model_registry.h"
#include "models/receptive_field.h"
#include "models/repository_layout.h"
#include "models/torch_models.h"
#include "study/study_result.h"
#include "train/trainer.h"
#include "train/training_data.h"

namespace fringe::study {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;

bool IsSafeName(const std::string& name) {
  if (name.empty() || name.size() > 100 || name == "." || name == "..") return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-';
  });
}

// Replaces in `to` every field that is set in `from` (whole messages and repeated fields,
// not a merge of their insides).
void ReplaceSetFields(const google::protobuf::Message& from, google::protobuf::Message* to) {
  std::vector<const google::protobuf::FieldDescriptor*> fields;
  from.GetReflection()->ListFields(from, &fields);
  for (const auto* f : fields) to->GetReflection()->ClearField(to, f);
  to->MergeFrom(from);
}

std::string TextOf(const google::protobuf::Message& m) {
  std::string out;
  google::protobuf::TextFormat::PrintToString(m, &out);
  return out;
}

absl::Status WriteJson(const fs::path& path, const Json& j) {
  std::error_code ec;
  fs::create_directories(path.parent_path(), ec);
  return WriteFileAtomically(path.string(), j.dump(1) + "\n");
}

absl::Status WritePng(const fs::path& path, const cv::Mat& image) {
  std::vector<uchar> png;
  if (!cv::imencode(".png", image, png)) {
    return absl::InternalError(absl::StrCat("cannot encode ", path.string()));
  }
  return WriteFileAtomically(
      path.string(), std::string_view(reinterpret_cast<const char*>(png.data()), png.size()));
}

std::string Now() {
  const std::time_t t = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M UTC", std::gmtime(&t));
  return buf;
}

// The held-out frames: synthetic, from the study's own seed, standardised as serving does.
absl::StatusOr<std::vector<ValidationImage>> MakeHeldOut(const v1::StudyConfig& study) {
  v1::TrainConfig c = study.base();
  c.clear_labelled();
  c.set_labelled_fraction(0);
  if (study.held_out().has_synthetic()) *c.mutable_synthetic() = study.held_out().synthetic();
  c.mutable_synthetic()->set_image_size(study.held_out().size());
  c.set_validation_seed(study.held_out().seed());
  c.set_validation_images(study.held_out().images());
  c.set_validation_size(study.held_out().size());
  c.set_seed(study.held_out().seed() + 1);  // Training images are never drawn from it.
  auto data = TrainingData::Create(c);
  if (!data.ok()) return data.status();
  return (*data)->MakeValidationSet();
}

std::string HeldOutDescription(const v1::StudyConfig& study) {
  const v1::SyntheticDataConfig& s =
      study.held_out().has_synthetic() ? study.held_out().synthetic() : study.base().synthetic();
  std::string doses = s.dose_max() > 0 ? absl::StrFormat("%g-%g e/A^2", s.dose_min(), s.dose_max())
                                       : std::string("the simulator's default doses");
  return absl::StrFormat(
      "%d simulated frames of %dx%d px (seed %d, never used for training or validation), %s",
      study.held_out().images(), study.held_out().size(), study.held_out().size(),
      study.held_out().seed(), doses);
}

// What a result depends on; a stored result with another fingerprint is not reused.
std::string Fingerprint(const v1::StudyConfig& study, const v1::StudyCandidate& candidate,
                        const v1::TrainConfig& train) {
  v1::TrainConfig t = train;
  t.clear_output_repository();  // The same study moved to another folder stays the same.
  t.clear_checkpoint_dir();
  v1::HeldOutSet h = study.held_out();
  std::string sets;
  for (const v1::EvaluationSet& e : study.evaluation_sets()) absl::StrAppend(&sets, TextOf(e), "|");
  return Sha256Hex(absl::StrCat(TextOf(t), "|", TextOf(h), "|", sets, study.latency_tile(), "|",
                                study.spectrum_images(), "|", study.spectrum_method(), "|",
                                candidate.untrained()));
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

struct Progress {
  bool quiet = false;
  void Say(const std::string& line) const {
    if (!quiet) std::fprintf(stderr, "%s\n", line.c_str());
  }
};

// Trains one candidate (or finishes its interrupted training) and returns its version.
struct Trained {
  std::string version_dir;
  int64_t steps = 0, best_step = 0;
  double training_seconds = 0, best_validation_dice = 0;
};

absl::StatusOr<Trained> Train(const v1::TrainConfig& train, const fs::path& record,
                              const StudyOptions& options) {
  if (fs::exists(record)) {  // Trained before an interruption of the evaluation.
    auto text = ReadFile(record.string());
    if (!text.ok()) return text.status();
    try {
      const Json j = Json::parse(*text);
      Trained t{j.at("version_dir"), j.at("steps"), j.at("best_step"), j.at("training_seconds"),
                j.at("best_validation_dice")};
      if (fs::exists(repository_layout::ConfigPath(t.version_dir))) return t;
    } catch (const Json::exception&) {
      // Unreadable: train again (the checkpoints make that cheap).
    }
  }
  Trainer::Options topts;
  topts.resume = true;
  topts.stop_requested = options.stop_requested;
  topts.report_every = 5;
  topts.source_revision = options.source_revision;
  auto trainer = Trainer::Create(train, topts);
  if (!trainer.ok()) return trainer.status();
  const double budget = train.max_seconds();
  ProgressBar bar(absl::StrCat("  train ", train.output_name()),
                  options.quiet ? 0 : static_cast<int64_t>(budget));
  const auto start = std::chrono::steady_clock::now();
  double last_dice = 0;
  auto result = (*trainer)->Run([&](const TrainProgress& p) {
    if (p.validated) last_dice = p.validation.count("dice") ? p.validation.at("dice") : 0;
    if (options.quiet) return;
    const double elapsed =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    bar.Update(std::min<int64_t>(static_cast<int64_t>(elapsed), static_cast<int64_t>(budget)),
               absl::StrFormat("step %d loss %.3f val Dice %.3f", p.step, p.loss, last_dice));
  });
  if (!options.quiet) bar.Finish();
  if (!result.ok()) return result.status();
  Trained t;
  t.version_dir = result->version_dir;
  t.steps = result->steps;
  t.best_step = result->best_step;
  t.training_seconds = result->training_seconds;
  t.best_validation_dice =
      result->best_validation.count("dice") ? result->best_validation.at("dice") : 0;
  if (absl::Status s = WriteJson(record, {{"version_dir", t.version_dir},
                                          {"steps", t.steps},
                                          {"best_step", t.best_step},
                                          {"training_seconds", t.training_seconds},
                                          {"best_validation_dice", t.best_validation_dice}});
      !s.ok()) {
    return s;
  }
  return t;
}

// An untrained candidate (the Fourier baseline) as a version in the study's repository.
absl::StatusOr<std::string> WriteUntrainedVersion(const v1::ModelConfig& model,
                                                  const std::string& root,
                                                  const std::string& name) {
  // Always version 1: rewriting it on a rerun is idempotent (the config is written atomically).
  const fs::path dir = repository_layout::VersionDir(root, name, 1);
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return absl::InternalError(absl::StrCat("cannot create ", dir.string()));
  if (absl::Status s = WriteFileAtomically(
          repository_layout::ConfigPath(dir.string()),
          "# Written by fringe-study (not trained).\n" + ModelConfigToText(model));
      !s.ok()) {
    return s;
  }
  return dir.string();
}

// Frames the networks can take whole: padded (with the mean, 0) to the input multiple.
cv::Mat PadTo(const cv::Mat& frame, int multiple) {
  const int rows = (frame.rows + multiple - 1) / multiple * multiple;
  const int cols = (frame.cols + multiple - 1) / multiple * multiple;
  cv::Mat out;
  cv::copyMakeBorder(frame, out, 0, rows - frame.rows, 0, cols - frame.cols, cv::BORDER_CONSTANT,
                     cv::Scalar(0));
  return out;
}

double SpectrumBinWidth(const v1::StudyConfig& study) {
  // One shared ring width so spectra of frames of different pixel sizes average ring by
  // ring: the Fourier spacing of the coarsest frame, 1 / (side x largest pixel size).
  const v1::SyntheticDataConfig& s =
      study.held_out().has_synthetic() ? study.held_out().synthetic() : study.base().synthetic();
  const double pixel = s.pixel_size_max_nm() > 0 ? s.pixel_size_max_nm() : 0.025;
  return 1.0 / (study.held_out().size() * pixel);
}

analysis::RadialSpectrum Spectrum(const cv::Mat& map, double pixel_size_nm, double bin_width) {
  analysis::RadialSpectrumOptions o;
  o.pixel_size_nm = pixel_size_nm;
  o.bin_width = bin_width;
  analysis::RadialSpectrum s = analysis::ComputeRadialSpectrum(map, o);
  analysis::NormaliseSpectrum(&s);
  return s;
}

double PixelSizeOf(const ValidationImage& v, const v1::ModelConfig& config) {
  return v.pixel_size_nm.value_or(config.pixel_size_nm() > 0 ? config.pixel_size_nm() : 0.0225);
}

// One evaluation set, loaded once for all candidates.
struct PreparedSet {
  v1::EvaluationSet config;
  std::string kind;         // "synthetic", "labelled", "unlabelled".
  std::string description;  // One line for the report.
  std::string skipped;      // Non-empty: why the set is not evaluated (optional and absent).
  std::vector<ValidationImage> frames;  // Synthetic and labelled: standardised, with masks.
  struct Raw {
    cv::Mat pixels;            // CV_32F as read.
    double pixel_size_nm = 0;  // 0 = unknown (served as is).
    std::string name;
  };
  std::vector<Raw> raw;  // Unlabelled frames.
};

absl::StatusOr<std::vector<PreparedSet>> PrepareSets(const v1::StudyConfig& study) {
  std::vector<PreparedSet> sets;
  const double model_pixel = study.base().model().pixel_size_nm();
  for (const v1::EvaluationSet& e : study.evaluation_sets()) {
    PreparedSet p;
    p.config = e;
    if (e.has_synthetic()) {
      p.kind = "synthetic";
      const v1::HeldOutSet& h = e.synthetic();
      const v1::SyntheticDataConfig s =
          h.has_synthetic() ? h.synthetic() : study.base().synthetic();
      auto simulator = ScaledSimulator::Create(s, h.size(), model_pixel);
      if (!simulator.ok()) {
        return absl::Status(
            simulator.status().code(),
            absl::StrCat("evaluation set ", e.name(), ": ", simulator.status().message()));
      }
      for (int i = 0; i < h.images(); ++i) {
        const ScaledSimulator::Frame f = (*simulator)->Generate(h.seed(), i);
        p.frames.push_back({StandardiseFrame(f.image), f.mask, f.params.dose_e_per_a2,
                            absl::StrCat(e.name(), "_", i), f.pixel_size_nm});
      }
      std::string physics = s.held_out_generator() ? "held-out generator (phase-field carbon, "
                                                     "scintillator CCD)"
                            : s.randomize()
                                ? (s.randomize_without().empty()
                                       ? std::string("all nuisance factors randomised")
                                       : absl::StrCat("randomised without ",
                                                      absl::StrJoin(s.randomize_without(), ", ")))
                                : std::string("classic fringe-sim");
      p.description = absl::StrFormat(
          "%d simulated frames of %dx%d px (seed %d), %s, %s", h.images(), h.size(), h.size(),
          h.seed(), physics,
          s.scale_pixel_max_nm() > 0
              ? absl::StrFormat("simulated at %g-%g nm/px and resampled to %g nm/px as served",
                                s.scale_pixel_min_nm(), s.scale_pixel_max_nm(), model_pixel)
              : std::string("at the simulator's pixel sizes, served as they are"));
    } else if (!e.labelled_folder().empty()) {
      p.kind = "labelled";
      if (!fs::exists(e.labelled_folder()) && e.optional()) {
        p.skipped = absl::StrCat("skipped: ", e.labelled_folder(), " is not on this machine");
      } else {
        auto dataset = data::LabelledDataset::Open(e.labelled_folder());
        if (!dataset.ok()) {
          return absl::Status(
              dataset.status().code(),
              absl::StrCat("evaluation set ", e.name(), ": ", dataset.status().message()));
        }
        for (const data::DatasetItem& item : dataset->items()) {
          auto loaded = dataset->Load(item);
          if (!loaded.ok()) return loaded.status();
          cv::Mat pixels;
          loaded->first.pixels.convertTo(pixels, CV_32F);
          p.frames.push_back({StandardiseFrame(pixels), loaded->second, item.dose, item.stem,
                              loaded->first.pixel_size_nm});
        }
      }
      p.description = absl::StrCat("labelled folder ", e.labelled_folder(), " (", p.frames.size(),
                                   " frames, served as they are: no pixel size is resampled)");
    } else {
      p.kind = "unlabelled";
      std::vector<std::string> names;
      for (const v1::UnlabelledFile& f : e.unlabelled().files()) {
        if (!fs::exists(f.path()) && e.optional()) {
          p.skipped = absl::StrCat("skipped: ", f.path(), " is not on this machine");
          break;
        }
        auto image = data::ReadImage(f.path());
        if (!image.ok()) {
          return absl::Status(image.status().code(), absl::StrCat("evaluation set ", e.name(), ": ",
                                                                  image.status().message()));
        }
        PreparedSet::Raw r;
        image->pixels.convertTo(r.pixels, CV_32F);
        r.pixel_size_nm =
            f.pixel_size_nm() > 0 ? f.pixel_size_nm() : image->pixel_size_nm.value_or(0.0);
        r.name = fs::path(f.path()).stem().string();
        names.push_back(absl::StrFormat("%s (%dx%d px, %s)", fs::path(f.path()).filename().string(),
                                        r.pixels.cols, r.pixels.rows,
                                        r.pixel_size_nm > 0
                                            ? absl::StrFormat("%g nm/px", r.pixel_size_nm)
                                            : std::string("pixel size unknown")));
        p.raw.push_back(std::move(r));
      }
      if (!p.skipped.empty()) p.raw.clear();
      p.description = absl::StrCat(
          "real frames without gold (every marked pixel is a false positive), resampled to the "
          "model's pixel size as the server does: ",
          names.empty() ? std::string("none") : absl::StrJoin(names, "; "));
    }
    if (!p.skipped.empty()) p.description = absl::StrCat(p.description, "; ", p.skipped);
    sets.push_back(std::move(p));
  }
  return sets;
}

// 8-bit display of a frame (1st-99th percentile stretch) beside it with the mask in red.
cv::Mat Montage(const cv::Mat& frame, const cv::Mat& mask) {
  cv::Mat sorted = frame.reshape(1, 1).clone();
  cv::sort(sorted, sorted, cv::SORT_ASCENDING);
  const float lo = sorted.at<float>(0, sorted.cols / 100);
  const float hi = sorted.at<float>(0, sorted.cols - 1 - sorted.cols / 100);
  cv::Mat grey;
  frame.convertTo(grey, CV_8U, 255.0 / std::max(1e-6f, hi - lo),
                  -lo * 255.0 / std::max(1e-6f, hi - lo));
  cv::Mat left, right;
  cv::cvtColor(grey, left, cv::COLOR_GRAY2BGR);
  right = left.clone();
  right.setTo(cv::Scalar(0, 0, 255), mask != 0);
  cv::addWeighted(left, 0.5, right, 0.5, 0, right);
  cv::Mat out;
  cv::hconcat(left, right, out);
  const int side = std::max(out.rows, out.cols);
  if (side > 1600) cv::resize(out, out, cv::Size(), 1600.0 / side, 1600.0 / side, cv::INTER_AREA);
  return out;
}

absl::Status EvaluateSets(const Segmenter& segmenter, const v1::ModelConfig& config,
                          const std::vector<PreparedSet>& sets, const fs::path& out, bool quiet,
                          CandidateResult* r) {
  FrameSegmenterOptions seg;
  seg.tile_size = config.tile_size() > 0 ? config.tile_size() : 512;
  seg.tile_margin = config.tile_margin();
  r->sets.clear();
  for (const PreparedSet& p : sets) {
    SetResult s;
    s.set = p.config.name();
    s.kind = p.kind;
    if (!p.skipped.empty()) {
      s.status = p.skipped;
      r->sets.push_back(s);
      continue;
    }
    const int montages = p.config.montage_frames() > 0 ? p.config.montage_frames()
                         : p.kind == "unlabelled"      ? 1 << 30
                                                       : 0;
    auto save_montage = [&](const cv::Mat& frame, const cv::Mat& mask,
                            const std::string& name) -> absl::Status {
      const std::string rel =
          absl::StrCat("evaluation/", p.config.name(), "/", r->name, "_", name, ".png");
      std::error_code ec;
      fs::create_directories((out / rel).parent_path(), ec);
      if (absl::Status st = WritePng(out / rel, Montage(frame, mask)); !st.ok()) return st;
      s.montages.push_back(rel);
      return absl::OkStatus();
    };
    double fp_sum = 0;
    ProgressBar bar(absl::StrCat("  ", p.config.name()),
                    quiet ? 0 : static_cast<int64_t>(p.frames.size() + p.raw.size()));
    int done = 0;
    if (p.kind != "unlabelled") {
      std::vector<FrameScore> scores;
      for (const ValidationImage& v : p.frames) {
        auto seg_out = SegmentFrame(segmenter, v.image, seg);
        if (!seg_out.ok()) return seg_out.status();
        const ConfusionCounts c = CountConfusion(seg_out->mask, v.mask);
        scores.push_back({v.dose, c});
        const double fp =
            static_cast<double>(c.false_positive) / std::max<size_t>(1, v.mask.total());
        fp_sum += fp;
        s.max_false_positive_area = std::max(s.max_false_positive_area, fp);
        if (done < montages) {
          if (absl::Status st = save_montage(v.image, seg_out->mask, v.name); !st.ok()) return st;
        }
        ++done;
        if (!quiet) bar.Update(done);
      }
      CandidateResult tmp;
      SummarizeFrames(scores, &tmp);
      s.frames = tmp.frames;
      s.dice = tmp.dice;
      s.precision = tmp.precision;
      s.recall = tmp.recall;
      s.pooled_dice = tmp.pooled_dice;
    } else {
      s.labelled = false;
      for (const PreparedSet::Raw& raw : p.raw) {
        // Exactly the server's path: resample to the model's pixel size, standardise over the
        // frame, segment, probabilities back to the frame's size, argmax there.
        const ScalePlan plan =
            PlanScale(raw.pixels.size(), PixelSize{raw.pixel_size_nm, raw.pixel_size_nm},
                      config.pixel_size_nm());
        auto seg_out = SegmentFrame(segmenter, ToModelScale(raw.pixels, plan), seg);
        if (!seg_out.ok()) return seg_out.status();
        cv::Mat mask = seg_out->mask;
        if (plan.resampled() && seg_out->class_probabilities.size() >= 2) {
          const cv::Mat p0 = ToFrameScale(seg_out->class_probabilities[0], plan);
          const cv::Mat p1 = ToFrameScale(seg_out->class_probabilities[1], plan);
          mask = cv::Mat(p1 > p0) / 255;
        }
        const double fp = static_cast<double>(cv::countNonZero(mask)) / mask.total();
        fp_sum += fp;
        s.max_false_positive_area = std::max(s.max_false_positive_area, fp);
        ++s.frames;
        if (s.frames <= montages) {
          if (absl::Status st = save_montage(raw.pixels, mask, raw.name); !st.ok()) return st;
        }
        ++done;
        if (!quiet) bar.Update(done);
      }
    }
    if (!quiet) bar.Finish();
    const int n = static_cast<int>(p.frames.size() + p.raw.size());
    s.false_positive_area = n > 0 ? fp_sum / n : 0;
    r->sets.push_back(s);
  }
  return absl::OkStatus();
}

// Evaluates one version on the held-out frames: quality, cost and relevance spectra.
absl::Status Evaluate(const v1::StudyConfig& study, const std::vector<ValidationImage>& held_out,
                      const std::vector<PreparedSet>& sets, const fs::path& out,
                      const Progress& progress, bool quiet, CandidateResult* r) {
  auto config = LoadModelConfig(repository_layout::ConfigPath(r->version_dir));
  if (!config.ok()) return config.status();
  r->architecture = config->architecture();
  const ModelRegistry registry = ModelRegistry::WithBuiltins();
  LoadContext context;
  context.version_dir = r->version_dir;
  auto model = registry.Create(*config, context);
  if (!model.ok()) return model.status();
  const Segmenter& segmenter = **model;
  r->parameters = segmenter.parameter_count();
  r->threads = GetTorchIntraOpThreads();
  r->latency_tile = study.latency_tile();
  if (IsTorchArchitecture(config->architecture())) {
    auto macs = CountMultiplyAccumulates(*config, study.latency_tile());
    if (!macs.ok()) return macs.status();
    r->macs = macs->total;
    auto field = AnalyticReceptiveField(*config);
    if (!field.ok()) return field.status();
    r->receptive_field_px = field->pixels;
    r->receptive_field_nm = field->nanometres;
  }

  // Segmentation quality.
  FrameSegmenterOptions seg;
  seg.tile_size = config->tile_size() > 0 ? config->tile_size() : 512;
  seg.tile_margin = config->tile_margin();
  std::vector<FrameScore> scores;
  std::vector<cv::Mat> masks;
  ProgressBar bar("  evaluate", quiet ? 0 : static_cast<int64_t>(held_out.size()));
  for (size_t i = 0; i < held_out.size(); ++i) {
    auto out = SegmentFrame(segmenter, held_out[i].image, seg);
    if (!out.ok()) return out.status();
    scores.push_back({held_out[i].dose, CountConfusion(out->mask, held_out[i].mask)});
    masks.push_back(out->mask);
    if (!quiet) bar.Update(static_cast<int64_t>(i + 1));
  }
  if (!quiet) bar.Finish();
  SummarizeFrames(scores, r);
  if (absl::Status s = EvaluateSets(segmenter, *config, sets, out, quiet, r); !s.ok()) return s;

  // Relevance spectra: what each network looks at, in Fourier space.
  r->spectrum_method = study.spectrum_method();
  if (study.spectrum_images() > 0 && IsTorchArchitecture(config->architecture())) {
    auto explainer = Explainer::Load(*config, r->version_dir);
    if (!explainer.ok()) return explainer.status();
    const double bin_width = SpectrumBinWidth(study);
    std::vector<analysis::RadialSpectrum> spectra;
    const int n = std::min<int>(study.spectrum_images(), static_cast<int>(held_out.size()));
    ProgressBar sbar("  explain", quiet ? 0 : n);
    for (int i = 0; i < n; ++i) {
      const ValidationImage& v = held_out[i];
      if (cv::countNonZero(masks[i]) > 0) {
        const int m = (*explainer)->input_multiple();
        AttributionRequest request;
        request.method = study.spectrum_method();
        request.target.kind = AttributionTarget::Kind::kMask;
        request.target.class_index = 1;
        request.target.mask = PadTo(masks[i], m);
        auto explained = (*explainer)->Explain(PadTo(v.image, m), request);
        if (!explained.ok()) return explained.status();
        const cv::Mat relevance = explained->relevance(cv::Rect(0, 0, v.image.cols, v.image.rows));
        spectra.push_back(Spectrum(relevance, PixelSizeOf(v, *config), bin_width));
      }
      if (!quiet) sbar.Update(i + 1);
    }
    if (!quiet) sbar.Finish();
    if (!spectra.empty()) {
      const analysis::RadialSpectrum mean = analysis::AverageSpectra(spectra);
      r->relevance_spectrum = mean;
      r->relevance_spectrum_std = analysis::SpectraStd(spectra, mean);
      r->spectrum_frames = static_cast<int>(spectra.size());
      r->au_band_contrast = analysis::SummarizeSpectrum(mean, 0, 1.0).au_band_contrast;
    } else {
      progress.Say("  note: no particle predicted on the explained frames: no relevance spectrum");
    }
  }
  return absl::OkStatus();
}

// CPU latency of one tile through each finished candidate's serving path, measured side by
// side at the end: round robin over the candidates, repeat by repeat, so that every candidate
// sees the same machine (a number taken right after each candidate's training would carry
// whatever else the machine was doing then).
absl::Status MeasureLatencies(const v1::StudyConfig& study, std::vector<CandidateResult>* results) {
  struct Loaded {
    CandidateResult* result;
    std::unique_ptr<Segmenter> segmenter;
    std::vector<double> ms;
  };
  std::vector<Loaded> loaded;
  const ModelRegistry registry = ModelRegistry::WithBuiltins();
  for (CandidateResult& r : *results) {
    if (r.status != "done") continue;
    auto config = LoadModelConfig(repository_layout::ConfigPath(r.version_dir));
    if (!config.ok()) return config.status();
    LoadContext context;
    context.version_dir = r.version_dir;
    auto model = registry.Create(*config, context);
    if (!model.ok()) return model.status();
    loaded.push_back({&r, *std::move(model), {}});
  }
  const int t = study.latency_tile();
  std::vector<float> tile(static_cast<size_t>(t) * t);
  std::mt19937 rng(7);
  std::normal_distribution<float> normal(0.f, 1.f);
  for (float& v : tile) v = normal(rng);
  std::vector<float> probs;
  for (int i = 0; i < 3 + study.latency_repeats(); ++i) {  // 3 warm-ups.
    for (Loaded& l : loaded) {
      const auto t0 = std::chrono::steady_clock::now();
      if (absl::Status s = l.segmenter->Predict(tile.data(), 1, t, t, &probs); !s.ok()) return s;
      const double ms =
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
      if (i >= 3) l.ms.push_back(ms);
    }
  }
  for (Loaded& l : loaded) {
    l.result->latency_ms = Median(l.ms);
    l.result->latency_tile = t;
    l.result->threads = GetTorchIntraOpThreads();
  }
  return absl::OkStatus();
}

absl::Status WriteReport(const v1::StudyConfig& study, const StudyOptions& options,
                         const std::vector<ValidationImage>& held_out,
                         const std::vector<PreparedSet>& sets,
                         const std::vector<CandidateResult>& results) {
  std::vector<std::string> set_order, set_descriptions;
  Json set_json = Json::array();
  for (const PreparedSet& p : sets) {
    set_order.push_back(p.config.name());
    set_descriptions.push_back(p.description);
    set_json.push_back(
        {{"name", p.config.name()}, {"kind", p.kind}, {"description", p.description}});
  }
  const fs::path out(options.out_dir);
  StudyContext c;
  c.title = study.title();
  c.command = options.command;
  c.minutes_per_candidate = study.minutes_per_candidate();
  c.held_out = HeldOutDescription(study);
  c.machine = absl::StrFormat("%u CPU cores, LibTorch intra-op threads %d (training: %d)",
                              std::thread::hardware_concurrency(), GetTorchIntraOpThreads(),
                              study.base().threads());
  c.date = Now();
  for (const CandidateResult& r : results) {
    if (r.version_dir.empty()) continue;
    auto config = LoadModelConfig(repository_layout::ConfigPath(r.version_dir));
    if (config.ok() && !config->provenance().git_revision().empty()) {
      c.git_revision = config->provenance().git_revision();
    }
  }
  if (study.spectrum_images() > 0) {
    std::vector<analysis::RadialSpectrum> spectra;
    const double bin_width = SpectrumBinWidth(study);
    const int n = std::min<int>(study.spectrum_images(), static_cast<int>(held_out.size()));
    for (int i = 0; i < n; ++i) {
      spectra.push_back(
          Spectrum(held_out[i].image, held_out[i].pixel_size_nm.value_or(0.0225), bin_width));
    }
    if (!spectra.empty()) c.input_spectrum = analysis::AverageSpectra(spectra);
  }
  Json all = Json::array();
  for (const CandidateResult& r : results) all.push_back(ToJson(r));
  const std::vector<double> dose_edges = {20, 50, 100, 200, 300, 600, 1000, 2000};
  for (absl::Status s : {
           WriteFileAtomically((out / "study.md").string(),
                               StudyMarkdown(c, results) +
                                   EvaluationSetsMarkdown(set_order, set_descriptions, results)),
           WriteFileAtomically((out / "study.csv").string(), StudyCsv(results)),
           WriteFileAtomically((out / "evaluation_sets.csv").string(), EvaluationSetsCsv(results)),
           WriteJson(out / "study.json", {{"title", c.title},
                                          {"command", c.command},
                                          {"held_out", c.held_out},
                                          {"minutes_per_candidate", c.minutes_per_candidate},
                                          {"machine", c.machine},
                                          {"date", c.date},
                                          {"evaluation_sets", set_json},
                                          {"candidates", all}}),
           WritePng(out / "dice_vs_dose.png", RenderDiceVsDose(results, dose_edges)),
           WritePng(out / "dice_vs_receptive_field.png", RenderDiceVsReceptiveField(results)),
       }) {
    if (!s.ok()) return s;
  }
  bool any_spectrum = false;
  for (const CandidateResult& r : results) any_spectrum |= r.relevance_spectrum.has_value();
  if (any_spectrum) {
    if (absl::Status s =
            WritePng(out / "relevance_spectra.png", RenderRelevanceSpectra(c, results));
        !s.ok()) {
      return s;
    }
    return WriteFileAtomically((out / "relevance_spectra.csv").string(),
                               RelevanceSpectraCsv(c, results));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<v1::StudyConfig> ParseStudyConfig(const std::string& text) {
  v1::StudyConfig s;
  if (absl::Status st = ParseTextFormat(text, &s); !st.ok()) return st;
  if (s.minutes_per_candidate() == 0) s.set_minutes_per_candidate(20);
  v1::HeldOutSet* h = s.mutable_held_out();
  if (h->images() == 0) h->set_images(48);
  if (h->size() == 0) h->set_size(512);
  if (h->seed() == 0) h->set_seed(777);
  if (s.latency_tile() == 0) s.set_latency_tile(256);
  if (s.latency_repeats() == 0) s.set_latency_repeats(20);
  if (!s.has_spectrum_images()) s.set_spectrum_images(8);
  if (s.spectrum_method().empty()) s.set_spectrum_method("lrp");

  if (s.candidates().empty()) return absl::InvalidArgumentError("the study has no candidates");
  if (s.minutes_per_candidate() < 0) {
    return absl::InvalidArgumentError("minutes_per_candidate must be > 0");
  }
  if (h->images() < 1 || h->size() < 32) {
    return absl::InvalidArgumentError("held_out needs images >= 1 and size >= 32");
  }
  if (s.latency_tile() < 16 || s.latency_repeats() < 1 || s.spectrum_images() < 0) {
    return absl::InvalidArgumentError(
        "latency_tile must be >= 16, latency_repeats >= 1 and spectrum_images >= 0");
  }
  if (h->seed() == s.base().seed() || h->seed() == s.base().validation_seed()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "held_out.seed ", h->seed(), " must differ from the training seed and validation seed"));
  }
  std::set<std::string> set_names;
  for (v1::EvaluationSet& e : *s.mutable_evaluation_sets()) {
    if (!IsSafeName(e.name()) || !set_names.insert(e.name()).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("evaluation set name \"", e.name(),
                       "\" must be unique and letters, digits, '.', '_' or '-'"));
    }
    if (e.has_synthetic()) {
      v1::HeldOutSet* eh = e.mutable_synthetic();
      if (eh->images() == 0) eh->set_images(24);
      if (eh->size() == 0) eh->set_size(512);
      if (eh->seed() == 0 || eh->seed() == s.base().seed() ||
          eh->seed() == s.base().validation_seed()) {
        return absl::InvalidArgumentError(
            absl::StrCat("evaluation set ", e.name(),
                         ": synthetic.seed must be set and differ from the training and "
                         "validation seeds"));
      }
      const v1::SyntheticDataConfig& sd =
          eh->has_synthetic() ? eh->synthetic() : s.base().synthetic();
      if (absl::Status st = ValidateSyntheticDataConfig(sd, s.base().model().pixel_size_nm(),
                                                        /*evaluation=*/true);
          !st.ok()) {
        return absl::InvalidArgumentError(
            absl::StrCat("evaluation set ", e.name(), ": ", st.message()));
      }
    } else if (e.labelled_folder().empty() && !e.has_unlabelled()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "evaluation set ", e.name(), " needs synthetic, labelled_folder or unlabelled"));
    } else if (e.has_unlabelled()) {
      if (e.unlabelled().files().empty() || !e.unlabelled().expect_no_particles()) {
        return absl::InvalidArgumentError(absl::StrCat(
            "evaluation set ", e.name(),
            ": unlabelled frames are scored only as frames without particles (files and "
            "expect_no_particles: true)"));
      }
    }
  }
  std::set<std::string> names;
  for (const v1::StudyCandidate& c : s.candidates()) {
    if (!IsSafeName(c.name())) {
      return absl::InvalidArgumentError(absl::StrCat(
          "candidate name \"", c.name(), "\" must be letters, digits, '.', '_' or '-'"));
    }
    if (!names.insert(c.name()).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("candidate \"", c.name(), "\" is listed twice"));
    }
    v1::TrainConfig t = CandidateTrainConfig(s, c, "/tmp/fringe-study-validation");
    if (c.untrained()) {
      v1::ModelConfig m = t.model();
      ApplyModelConfigDefaults(&m);
      if (absl::Status st = ValidateModelConfig(m); !st.ok()) {
        return absl::InvalidArgumentError(absl::StrCat("candidate ", c.name(), ": ", st.message()));
      }
      continue;
    }
    if (c.needs_vgg16_weights() && t.vgg16_weights().empty()) continue;  // Reported as skipped.
    ApplyTrainConfigDefaults(&t);
    if (absl::Status st = ValidateTrainConfig(t); !st.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("candidate ", c.name(), ": ", st.message()));
    }
  }
  return s;
}

absl::StatusOr<v1::StudyConfig> LoadStudyConfig(const std::string& path) {
  auto text = ReadFile(path);
  if (!text.ok()) return text.status();
  auto parsed = ParseStudyConfig(*text);
  if (!parsed.ok()) {
    return absl::Status(parsed.status().code(),
                        absl::StrCat(path, ": ", parsed.status().message()));
  }
  return parsed;
}

v1::TrainConfig CandidateTrainConfig(const v1::StudyConfig& study,
                                     const v1::StudyCandidate& candidate,
                                     const std::string& out_dir) {
  v1::TrainConfig t = study.base();
  ReplaceSetFields(candidate.train(), &t);
  const fs::path out(out_dir);
  t.set_output_repository((out / "repository").string());
  t.set_output_name(candidate.name());
  t.set_checkpoint_dir((out / "checkpoints" / candidate.name()).string());
  t.set_max_minutes(0);
  t.set_max_seconds(study.minutes_per_candidate() * 60);
  if (candidate.needs_vgg16_weights()) t.set_vgg16_weights(study.vgg16_weights());
  return t;
}

absl::Status RunStudy(const v1::StudyConfig& study, const StudyOptions& options) {
  const Progress progress{options.quiet};
  const fs::path out(options.out_dir);
  std::error_code ec;
  fs::create_directories(out, ec);
  if (ec) return absl::InternalError(absl::StrCat("cannot create ", out.string()));
  for (const std::string& name : options.only) {
    const bool known = std::any_of(study.candidates().begin(), study.candidates().end(),
                                   [&](const v1::StudyCandidate& c) { return c.name() == name; });
    if (!known) return absl::InvalidArgumentError(absl::StrCat("no candidate named ", name));
  }
  progress.Say(absl::StrFormat("held-out set: %s", HeldOutDescription(study)));
  auto held_out = MakeHeldOut(study);
  if (!held_out.ok()) return held_out.status();
  auto sets = PrepareSets(study);
  if (!sets.ok()) return sets.status();
  for (const PreparedSet& p : *sets) {
    progress.Say(absl::StrFormat("evaluation set %s: %s", p.config.name(), p.description));
  }
  SetTorchIntraOpThreads(study.base().threads() > 0
                             ? study.base().threads()
                             : static_cast<int>(std::thread::hardware_concurrency()));

  std::vector<CandidateResult> results;
  std::vector<std::string> failed;
  int index = 0;
  for (const v1::StudyCandidate& candidate : study.candidates()) {
    ++index;
    CandidateResult r;
    r.name = candidate.name();
    r.description = candidate.description();
    const v1::TrainConfig train = CandidateTrainConfig(study, candidate, out.string());
    r.architecture = train.model().architecture();
    const bool selected =
        options.only.empty() ||
        std::find(options.only.begin(), options.only.end(), r.name) != options.only.end();
    const fs::path dir = out / "candidates" / r.name;
    const std::string fingerprint = Fingerprint(study, candidate, train);
    const fs::path result_path = dir / "result.json";
    // A finished candidate from an earlier run of the same configuration.
    if (fs::exists(result_path)) {
      auto text = ReadFile(result_path.string());
      if (!text.ok()) return text.status();
      Json j;
      try {
        j = Json::parse(*text);
      } catch (const Json::exception& e) {
        return absl::DataLossError(
            absl::StrCat(result_path.string(), " is unreadable: ", e.what()));
      }
      if (j.value("fingerprint", "") != fingerprint) {
        return absl::FailedPreconditionError(
            absl::StrCat(result_path.string(), " was made with another configuration of candidate ",
                         r.name, "; use another --out, or remove ", dir.string(), " and ",
                         (out / "checkpoints" / r.name).string(), " to redo it"));
      }
      auto stored = CandidateResultFromJson(j.at("result"));
      if (!stored.ok()) return stored.status();
      progress.Say(absl::StrFormat("[%d/%d] %s: done earlier (Dice %.3f)", index,
                                   study.candidates_size(), r.name, stored->dice));
      results.push_back(*stored);
      continue;
    }
    if (!selected) continue;
    if (candidate.needs_vgg16_weights() && study.vgg16_weights().empty()) {
      r.status =
          "skipped: needs ImageNet VGG16 weights (--vgg16-weights FILE, a torchvision "
          "vgg16 state dict); none were given";
      progress.Say(
          absl::StrFormat("[%d/%d] %s: %s", index, study.candidates_size(), r.name, r.status));
      results.push_back(r);
      continue;
    }
    progress.Say(absl::StrFormat(
        "[%d/%d] %s: %s", index, study.candidates_size(), r.name,
        candidate.untrained()
            ? std::string("not trained, evaluating")
            : absl::StrFormat("training for %.1f min", study.minutes_per_candidate())));
    absl::Status status;
    if (candidate.untrained()) {
      auto version = WriteUntrainedVersion(train.model(), (out / "repository").string(), r.name);
      status = version.status();
      if (version.ok()) r.version_dir = *version;
    } else {
      auto trained = Train(train, dir / "trained.json", options);
      if (!trained.ok() && trained.status().code() == absl::StatusCode::kCancelled) {
        return trained.status();  // Ctrl-C: the checkpoint is there; a rerun goes on.
      }
      status = trained.status();
      if (trained.ok()) {
        r.version_dir = trained->version_dir;
        r.steps = trained->steps;
        r.best_step = trained->best_step;
        r.training_seconds = trained->training_seconds;
        r.best_validation_dice = trained->best_validation_dice;
      }
    }
    r.randomized = train.synthetic().randomize();
    r.factors_left_out.assign(train.synthetic().randomize_without().begin(),
                              train.synthetic().randomize_without().end());
    if (status.ok()) {
      status = Evaluate(study, *held_out, *sets, out, progress, options.quiet, &r);
    }
    if (!status.ok()) {
      r.status = absl::StrCat("failed: ", status.message());
      failed.push_back(r.name);
      progress.Say(absl::StrFormat("  %s", r.status));
      results.push_back(r);
      continue;
    }
    progress.Say(absl::StrFormat("  %s: %d steps, held-out Dice %.3f", r.name, r.steps, r.dice));
    if (absl::Status s =
            WriteJson(result_path, {{"fingerprint", fingerprint}, {"result", ToJson(r)}});
        !s.ok()) {
      return s;
    }
    results.push_back(r);
  }
  progress.Say(absl::StrFormat("CPU latency per %dx%d tile, all candidates side by side...",
                               study.latency_tile(), study.latency_tile()));
  if (absl::Status s = MeasureLatencies(study, &results); !s.ok()) return s;
  if (absl::Status s = WriteReport(study, options, *held_out, *sets, results); !s.ok()) return s;
  progress.Say(absl::StrCat("wrote ", (out / "study.md").string()));
  if (!failed.empty()) {
    return absl::UnknownError(absl::StrCat("failed: ", absl::StrJoin(failed, ", ")));
  }
  return absl::OkStatus();
}

}  // namespace fringe::study
