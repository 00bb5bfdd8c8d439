#include "train/training_data.h"

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/frame_stats.h"
#include "common/pixel_scale.h"
#include "common/spike_filter.h"
#include "data/labelled_dataset.h"
#include "sim/domain_randomization.h"
#include "sim/random.h"

namespace fringe {

uint64_t MixSeed(uint64_t a, uint64_t b, uint64_t c) {
  return sim::SplitMix64(sim::SplitMix64(sim::SplitMix64(a) ^ b) ^ c);
}

cv::Mat StandardiseFrame(const cv::Mat& frame) {
  // Spikes out first, exactly as the server prepares a frame (models/frame_preparation.h), so
  // training sees the statistics serving produces.
  cv::Mat clean;
  frame.convertTo(clean, CV_32F);
  RemoveSpikes(&clean);
  return Standardise(clean, ComputeFrameStats(clean));
}

namespace {

// Contrast, low-frequency background and blur on a standardised tile, which is then brought
// back to its own mean and standard deviation. Draws only for the ops that are configured,
// from their own stream (so enabling one never changes the flips, rotations or noise).
void ApplyPhotometric(const v1::AugmentationConfig& config, uint64_t seed, cv::Mat* image) {
  const bool contrast = config.contrast_max() > 0;
  const bool background = config.background_max() > 0;
  const bool blur = config.blur_sigma_max_px() > 0;
  if (!contrast && !background && !blur) return;
  sim::Rng rng(seed);
  cv::Scalar mean0, std0;
  cv::meanStdDev(*image, mean0, std0);
  if (contrast) {
    const double c = rng.Uniform(config.contrast_min(), config.contrast_max());
    *image = (*image - mean0[0]) * c + mean0[0];
  }
  if (background) {
    const double amplitude = rng.Uniform(0.0, config.background_max()) * std::max(std0[0], 1e-6);
    const int rows = image->rows, cols = image->cols;
    const double side = std::max(rows, cols);
    // A plane along a random direction (peak +-1 at the tile's corners) and 1-3 Gaussians.
    const double angle = rng.Uniform(0.0, 2 * M_PI);
    const double plane = rng.Uniform(-1.0, 1.0);
    const int blobs = static_cast<int>(rng.UniformInt(1, 3));
    struct Blob {
      double y, x, sigma, a;
    };
    std::vector<Blob> b(blobs);
    for (Blob& g : b) {
      g.y = rng.Uniform(0.0, rows);
      g.x = rng.Uniform(0.0, cols);
      g.sigma = rng.Uniform(0.15, 0.6) * side;
      g.a = rng.Uniform(-1.0, 1.0);
    }
    cv::Mat field(rows, cols, CV_32F);
    for (int r = 0; r < rows; ++r) {
      float* row = field.ptr<float>(r);
      const double v = 2.0 * r / std::max(1, rows - 1) - 1.0;
      for (int c = 0; c < cols; ++c) {
        const double u = 2.0 * c / std::max(1, cols - 1) - 1.0;
        double f = plane * 0.5 * (u * std::cos(angle) + v * std::sin(angle));
        for (const Blob& g : b) {
          const double d2 = (r - g.y) * (r - g.y) + (c - g.x) * (c - g.x);
          f += g.a * std::exp(-d2 / (2 * g.sigma * g.sigma));
        }
        row[c] = static_cast<float>(f);
      }
    }
    double lo, hi;
    cv::minMaxLoc(cv::abs(field), &lo, &hi);
    if (hi > 0) *image += field * (amplitude / hi);
  }
  if (blur) {
    const double sigma = rng.Uniform(config.blur_sigma_min_px(), config.blur_sigma_max_px());
    if (sigma >= 0.3) {
      cv::GaussianBlur(*image, *image, cv::Size(0, 0), sigma, sigma, cv::BORDER_REFLECT);
    }
  }
  cv::Scalar mean1, std1;
  cv::meanStdDev(*image, mean1, std1);
  if (std1[0] > 1e-12) {
    *image = (*image - mean1[0]) * (std0[0] / std1[0]) + mean0[0];
  } else {
    *image = cv::Mat(image->size(), CV_32F, cv::Scalar(mean0[0]));
  }
}

}  // namespace

double ApplyGamma(const v1::AugmentationConfig& config, uint64_t seed, cv::Mat* raw) {
  if (config.gamma_max() <= 0) return 1.0;
  sim::Rng rng(seed);
  const double lo = config.gamma_min() > 0 ? config.gamma_min() : config.gamma_max();
  const double gamma = std::exp(rng.Uniform(std::log(lo), std::log(config.gamma_max())));
  const double mean = cv::mean(*raw)[0];
  if (!(mean > 0)) return 1.0;
  cv::Mat scaled = cv::max(*raw / mean, 0.0);
  cv::pow(scaled, gamma, scaled);
  *raw = scaled * mean;
  return gamma;
}

void Augment(const v1::AugmentationConfig& config, uint64_t seed, cv::Mat* image, cv::Mat* mask) {
  sim::Rng rng(seed);
  if (config.flips()) {
    if (rng.Uniform() < 0.5) {
      cv::flip(*image, *image, 1);
      cv::flip(*mask, *mask, 1);
    }
    if (rng.Uniform() < 0.5) {
      cv::flip(*image, *image, 0);
      cv::flip(*mask, *mask, 0);
    }
  }
  if (config.rot90()) {
    const int turns = static_cast<int>(rng.UniformInt(0, 3));
    if (turns > 0) {
      const int code = turns == 1   ? cv::ROTATE_90_CLOCKWISE
                       : turns == 2 ? cv::ROTATE_180
                                    : cv::ROTATE_90_COUNTERCLOCKWISE;
      cv::rotate(*image, *image, code);
      cv::rotate(*mask, *mask, code);
    }
  }
  ApplyPhotometric(config, MixSeed(seed, 0x9407), image);
  if (config.noise_rho_max() > 0) {
    const double rho = rng.Uniform(0.0, config.noise_rho_max());
    sim::Rng noise(seed, sim::RngStream::kNoise);
    const float scale = static_cast<float>(1.0 / std::sqrt(1.0 + rho * rho));
    for (int r = 0; r < image->rows; ++r) {
      float* row = image->ptr<float>(r);
      for (int c = 0; c < image->cols; ++c) {
        row[c] = (row[c] + static_cast<float>(rho * noise.Normal())) * scale;
      }
    }
  }
}

namespace {

sim::SimulatorOptions ClassicOptionsFrom(const v1::SyntheticDataConfig& s, int size) {
  sim::SimulatorOptions o;
  o.height = o.width = size;
  if (s.dose_min() > 0) o.dose_min = s.dose_min();
  if (s.dose_max() > 0) o.dose_max = s.dose_max();
  if (s.particles_min() > 0) o.particles_min = s.particles_min();
  if (s.particles_max() > 0) o.particles_max = s.particles_max();
  if (s.diameter_min_nm() > 0) o.diameter_min_nm = s.diameter_min_nm();
  if (s.diameter_max_nm() > 0) o.diameter_max_nm = s.diameter_max_nm();
  if (s.pixel_size_min_nm() > 0) o.pixel_size_min_nm = s.pixel_size_min_nm();
  if (s.pixel_size_max_nm() > 0) o.pixel_size_max_nm = s.pixel_size_max_nm();
  return o;
}

// A random crop of `tile` from a frame at least that large (zero-padded when smaller). With
// `carbon_only`, a crop with no particle pixel is drawn uniformly among all such positions
// when the frame has one (else any crop).
void Crop(const cv::Mat& image, const cv::Mat& mask, int tile, sim::Rng* rng, cv::Mat* image_out,
          cv::Mat* mask_out, bool carbon_only = false) {
  cv::Mat img = image, msk = mask;
  if (img.rows < tile || img.cols < tile) {
    const int pad_y = std::max(0, tile - img.rows), pad_x = std::max(0, tile - img.cols);
    cv::copyMakeBorder(img, img, 0, pad_y, 0, pad_x, cv::BORDER_CONSTANT, cv::Scalar(0));
    cv::copyMakeBorder(msk, msk, 0, pad_y, 0, pad_x, cv::BORDER_CONSTANT, cv::Scalar(0));
  }
  if (carbon_only) {
    cv::Mat sum;
    cv::integral(msk != 0, sum, CV_32S);
    std::vector<cv::Point> free;
    for (int y = 0; y + tile <= msk.rows; ++y) {
      const int* top = sum.ptr<int>(y);
      const int* bottom = sum.ptr<int>(y + tile);
      for (int x = 0; x + tile <= msk.cols; ++x) {
        if (bottom[x + tile] - bottom[x] - top[x + tile] + top[x] == 0) free.emplace_back(x, y);
      }
    }
    if (!free.empty()) {
      const cv::Point p = free[rng->UniformInt(0, free.size() - 1)];
      *image_out = img(cv::Rect(p.x, p.y, tile, tile)).clone();
      *mask_out = msk(cv::Rect(p.x, p.y, tile, tile)).clone();
      return;
    }
  }
  const int y = static_cast<int>(rng->UniformInt(0, img.rows - tile));
  const int x = static_cast<int>(rng->UniformInt(0, img.cols - tile));
  *image_out = img(cv::Rect(x, y, tile, tile)).clone();
  *mask_out = msk(cv::Rect(x, y, tile, tile)).clone();
}

bool ScaleAugmented(const v1::SyntheticDataConfig& s) {
  return s.scale_pixel_min_nm() > 0 || s.scale_pixel_max_nm() > 0;
}

}  // namespace

absl::StatusOr<sim::SimulatorOptions> SyntheticSimulatorOptions(const v1::SyntheticDataConfig& s,
                                                                int size) {
  const sim::SimulatorOptions classic = ClassicOptionsFrom(s, size);
  if (s.held_out_generator()) return sim::HeldOutGeneratorOptions(classic);
  if (!s.randomize()) {
    if (!s.randomize_without().empty()) {
      return absl::InvalidArgumentError("synthetic.randomize_without needs randomize: true");
    }
    return classic;
  }
  const std::vector<std::string> without(s.randomize_without().begin(),
                                         s.randomize_without().end());
  auto options = sim::RandomizedOptions(classic, without);
  if (!options.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("synthetic.randomize_without: ", options.status().message()));
  }
  return options;
}

absl::Status ValidateSyntheticDataConfig(const v1::SyntheticDataConfig& s, double model_pixel_nm,
                                         bool evaluation) {
  if (s.held_out_generator() && !evaluation) {
    return absl::InvalidArgumentError("held_out_generator is for evaluation only");
  }
  const std::vector<std::string>& names = sim::NuisanceFactorNames();
  for (const std::string& w : s.randomize_without()) {
    if (std::find(names.begin(), names.end(), w) == names.end()) {
      return absl::InvalidArgumentError(
          absl::StrCat("synthetic.randomize_without: unknown nuisance factor \"", w,
                       "\"; known: ", absl::StrJoin(names, ", ")));
    }
  }
  if (!s.randomize_without().empty() && !s.randomize()) {
    return absl::InvalidArgumentError("synthetic.randomize_without needs randomize: true");
  }
  if (!(s.classic_fraction() >= 0 && s.classic_fraction() <= 1)) {
    return absl::InvalidArgumentError(
        absl::StrCat("synthetic.classic_fraction is ", s.classic_fraction(), "; expected 0..1"));
  }
  if (s.classic_fraction() > 0 && !s.randomize()) {
    return absl::InvalidArgumentError("synthetic.classic_fraction needs randomize: true");
  }
  if (ScaleAugmented(s)) {
    const double lo = s.scale_pixel_min_nm(), hi = s.scale_pixel_max_nm();
    if (!(lo > 0) || !(hi >= lo)) {
      return absl::InvalidArgumentError(absl::StrCat("synthetic.scale_pixel_min_nm ", lo,
                                                     " and scale_pixel_max_nm ", hi,
                                                     " must both be > 0 with min <= max"));
    }
    if (!(model_pixel_nm > 0)) {
      return absl::InvalidArgumentError(
          "synthetic.scale_pixel_min_nm/max_nm need model.pixel_size_nm > 0 (the pixel size "
          "frames are resampled to)");
    }
    if (lo * kMaxResampleFactor < model_pixel_nm * (1 - 1e-9) ||
        hi > model_pixel_nm * kMaxResampleFactor * (1 + 1e-9)) {
      return absl::InvalidArgumentError(
          absl::StrCat("synthetic.scale_pixel_min_nm..max_nm ", lo, "..", hi,
                       " must lie within a factor ", kMaxResampleFactor, " of model.pixel_size_nm ",
                       model_pixel_nm, " (the server does not resample beyond it)"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<ScaledSimulator>> ScaledSimulator::Create(
    const v1::SyntheticDataConfig& s, int size, double model_pixel_nm) {
  std::unique_ptr<ScaledSimulator> out(new ScaledSimulator());
  out->size_ = size;
  out->model_pixel_nm_ = model_pixel_nm;
  out->scale_ = ScaleAugmented(s) && model_pixel_nm > 0;
  auto base = SyntheticSimulatorOptions(s, size);
  if (!base.ok()) return base.status();
  if (s.randomize() && !s.held_out_generator() && s.classic_fraction() > 0) {
    out->classic_fraction_ = s.classic_fraction();
    // Classic physics over exactly the same geometry and pixel sizes.
    v1::SyntheticDataConfig classic = s;
    classic.set_randomize(false);
    classic.clear_randomize_without();
    classic.set_classic_fraction(0);
    auto anchor = Create(classic, size, model_pixel_nm);
    if (!anchor.ok()) return anchor.status();
    out->classic_buckets_ = std::move((*anchor)->buckets_);
  }
  if (!out->scale_) {
    auto simulator = sim::HrtemSimulator::Create(*base);
    if (!simulator.ok()) return simulator.status();
    out->buckets_.push_back(
        {base->pixel_size_min_nm, base->pixel_size_max_nm, *std::move(simulator)});
    return out;
  }
  const double lo = s.scale_pixel_min_nm(), hi = s.scale_pixel_max_nm();
  // Buckets at most 15% wide: a frame is simulated at most ~32% larger (in pixels) than the
  // field of view needs.
  const int buckets =
      hi > lo ? std::max(1, static_cast<int>(std::ceil(std::log(hi / lo) / std::log(1.15)))) : 1;
  for (int k = 0; k < buckets; ++k) {
    const double a = lo * std::pow(hi / lo, static_cast<double>(k) / buckets);
    const double b = lo * std::pow(hi / lo, static_cast<double>(k + 1) / buckets);
    // The same field of view (size x model pixel) at the bucket's smallest pixel size; a frame
    // that may be served as is (within the native tolerance) is never smaller than `size`.
    int side = static_cast<int>(std::ceil(size * model_pixel_nm / a)) + 1;
    if (a <= model_pixel_nm * (1 + kNativeScaleTolerance)) side = std::max(side, size);
    sim::SimulatorOptions o = *base;
    o.height = o.width = std::max(16, side);
    o.pixel_size_min_nm = a;
    o.pixel_size_max_nm = b;
    auto simulator = sim::HrtemSimulator::Create(o);
    if (!simulator.ok()) return simulator.status();
    out->buckets_.push_back({a, b, *std::move(simulator)});
  }
  return out;
}

ScaledSimulator::Frame ScaledSimulator::Generate(uint64_t base_seed, uint64_t index) const {
  Frame f;
  size_t k = 0;
  if (scale_ && buckets_.size() > 1) {
    sim::Rng rng(MixSeed(base_seed, index, 0x5CA1E));
    k = static_cast<size_t>(rng.UniformInt(0, buckets_.size() - 1));
  }
  // Its own stream, so that adding the classic anchor leaves the bucket draws unchanged.
  const bool classic = classic_fraction_ > 0 &&
                       sim::Rng(MixSeed(base_seed, index, 0xC1A55)).Uniform() < classic_fraction_;
  const std::vector<Bucket>& from = classic ? classic_buckets_ : buckets_;
  sim::Sample sample = from[k].simulator->Generate(base_seed, index);
  f.params = sample.params;
  f.pixel_size_nm = sample.params.pixel_size_nm;
  if (!scale_) {
    f.image = sample.image;
    f.mask = sample.mask;
    return f;
  }
  const double p = sample.params.pixel_size_nm;
  const ScalePlan plan = PlanScale(sample.image.size(), PixelSize{p, p}, model_pixel_nm_);
  cv::Mat image = sample.image, mask = sample.mask;
  if (plan.resampled()) {
    image = ToModelScale(sample.image, plan);
    cv::Mat m32;
    sample.mask.convertTo(m32, CV_32F);
    const cv::Mat resampled = ResampleMap(m32, plan.model_size);
    mask = cv::Mat(resampled > 0.5) / 255;
    f.pixel_size_nm = model_pixel_nm_;
    f.resampled = true;
  }
  // Centre crop to at most size x size.
  const int h = std::min(size_, image.rows), w = std::min(size_, image.cols);
  const cv::Rect roi((image.cols - w) / 2, (image.rows - h) / 2, w, h);
  f.image = image(roi).clone();
  f.mask = mask(roi).clone();
  return f;
}

nlohmann::json ScaledSimulator::Describe() const {
  nlohmann::json j = sim::SimulatorOptionsToJson(buckets_.front().simulator->options());
  if (classic_fraction_ > 0) j["classic_fraction"] = classic_fraction_;
  if (scale_) {
    nlohmann::json b = nlohmann::json::array();
    for (const Bucket& bucket : buckets_) {
      b.push_back({{"pixel_size_min_nm", bucket.pixel_min_nm},
                   {"pixel_size_max_nm", bucket.pixel_max_nm},
                   {"simulated_side_px", bucket.simulator->options().width}});
    }
    j["scale_augmentation"] = {
        {"model_pixel_size_nm", model_pixel_nm_},
        {"frame_side_px", size_},
        {"buckets", b},
        {"resampling",
         "common/pixel_scale PlanScale + ResampleImage (image), ResampleMap > 0.5 (mask), as "
         "served; bucket drawn uniformly (piecewise log-uniform pixel size)"}};
  }
  return j;
}

absl::StatusOr<std::unique_ptr<TrainingData>> TrainingData::Create(const v1::TrainConfig& config) {
  std::unique_ptr<TrainingData> data(new TrainingData());
  data->config_ = config;
  const bool use_synthetic = config.has_synthetic() || !config.has_labelled();
  if (use_synthetic) {
    const int size =
        config.synthetic().image_size() > 0 ? config.synthetic().image_size() : config.tile();
    if (size < config.tile()) {
      return absl::InvalidArgumentError(
          absl::StrCat("synthetic.image_size ", size, " is smaller than tile ", config.tile()));
    }
    if (absl::Status s = ValidateSyntheticDataConfig(
            config.synthetic(), config.model().pixel_size_nm(), /*evaluation=*/false);
        !s.ok()) {
      return s;
    }
    auto simulator =
        ScaledSimulator::Create(config.synthetic(), size, config.model().pixel_size_nm());
    if (!simulator.ok()) return simulator.status();
    data->simulator_ = *std::move(simulator);
  }
  // Validation frames come from the same (randomised, scale-augmented) generator as training,
  // from validation_seed.
  auto validation = ScaledSimulator::Create(config.synthetic(), config.validation_size(),
                                            config.model().pixel_size_nm());
  if (!validation.ok()) return validation.status();
  data->validation_simulator_ = *std::move(validation);

  if (config.has_labelled()) {
    auto dataset = data::LabelledDataset::Open(config.labelled().path());
    if (!dataset.ok()) return dataset.status();
    data->labelled_path_ = config.labelled().path();
    auto [train, val] =
        dataset->Split(config.labelled().validation_fraction(), config.labelled().split_seed());
    for (auto* part : {&train, &val}) {
      for (const data::DatasetItem& item : *part) {
        auto loaded = dataset->Load(item);
        if (!loaded.ok()) return loaded.status();
        Labelled l{StandardiseFrame(loaded->first.pixels), loaded->second, item.dose, item.stem};
        (part == &train ? data->labelled_train_ : data->labelled_validation_).push_back(l);
      }
    }
    if (data->labelled_train_.empty()) {
      return absl::InvalidArgumentError(absl::StrCat("labelled data in ", config.labelled().path(),
                                                     " has no training images after the split"));
    }
  }
  return data;
}

void TrainingData::MakeTile(int64_t step, int i, float* image_out, uint8_t* mask_out) const {
  const uint64_t seed =
      MixSeed(config_.seed(), static_cast<uint64_t>(step), static_cast<uint64_t>(i));
  sim::Rng rng(seed);
  const int tile = config_.tile();
  cv::Mat image, mask;
  const bool labelled =
      !labelled_train_.empty() && (!simulator_ || rng.Uniform() < config_.labelled_fraction());
  // Hard negatives: drawn from their own stream, so a config without them keeps its crops.
  const bool carbon_only =
      config_.carbon_only_crop_fraction() > 0 &&
      sim::Rng(MixSeed(seed, 0xCA4B)).Uniform() < config_.carbon_only_crop_fraction();
  if (labelled) {
    const Labelled& item = labelled_train_[rng.UniformInt(0, labelled_train_.size() - 1)];
    Crop(item.image, item.mask, tile, &rng, &image, &mask, carbon_only);
  } else {
    // Image index = global tile counter: every training image is a distinct simulation.
    const uint64_t index = static_cast<uint64_t>(step) * config_.batch_size() + i;
    ScaledSimulator::Frame frame = simulator_->Generate(config_.seed(), index);
    ApplyGamma(config_.augmentation(), MixSeed(seed, 0x6A44A), &frame.image);
    Crop(StandardiseFrame(frame.image), frame.mask, tile, &rng, &image, &mask, carbon_only);
  }
  Augment(config_.augmentation(), MixSeed(seed, 0xA06), &image, &mask);
  cv::Mat image_dst(tile, tile, CV_32F, image_out);
  image.copyTo(image_dst);
  cv::Mat mask_dst(tile, tile, CV_8U, mask_out);
  const cv::Mat binary = (mask != 0) / 255;  // 0/1
  binary.copyTo(mask_dst);
}

Batch TrainingData::MakeBatch(int64_t step) const {
  Batch batch;
  batch.size = config_.batch_size();
  batch.tile = config_.tile();
  const size_t px = static_cast<size_t>(batch.tile) * batch.tile;
  batch.images.resize(batch.size * px);
  batch.masks.resize(batch.size * px);
  for (int i = 0; i < batch.size; ++i) {
    MakeTile(step, i, batch.images.data() + i * px, batch.masks.data() + i * px);
  }
  return batch;
}

std::vector<ValidationImage> TrainingData::MakeValidationSet() const {
  std::vector<ValidationImage> set;
  for (int i = 0; i < config_.validation_images(); ++i) {
    const ScaledSimulator::Frame f = validation_simulator_->Generate(config_.validation_seed(), i);
    set.push_back({StandardiseFrame(f.image), f.mask, f.params.dose_e_per_a2,
                   absl::StrCat("synthetic_", config_.validation_seed(), "_", i), f.pixel_size_nm});
  }
  for (const Labelled& l : labelled_validation_) {
    set.push_back({l.image, l.mask, l.dose, l.stem});
  }
  return set;
}

std::string TrainingData::Describe() const {
  nlohmann::json j;
  if (simulator_) {
    j["synthetic"] = simulator_->Describe();
    j["synthetic_seed"] = config_.seed();
    const v1::SyntheticDataConfig& s = config_.synthetic();
    if (s.randomize()) {
      j["domain_randomization"] = {
          {"factors_randomized",
           [&] {
             std::vector<std::string> on;
             for (const std::string& f : sim::NuisanceFactorNames()) {
               if (std::find(s.randomize_without().begin(), s.randomize_without().end(), f) ==
                   s.randomize_without().end()) {
                 on.push_back(f);
               }
             }
             return on;
           }()},
          {"factors_left_out",
           std::vector<std::string>(s.randomize_without().begin(), s.randomize_without().end())}};
    }
    if (config_.carbon_only_crop_fraction() > 0) {
      j["carbon_only_crop_fraction"] = config_.carbon_only_crop_fraction();
    }
  }
  const v1::AugmentationConfig& a = config_.augmentation();
  j["augmentation"] = {{"flips", a.flips()},
                       {"rot90", a.rot90()},
                       {"noise_rho_max", a.noise_rho_max()},
                       {"gamma", {a.gamma_min(), a.gamma_max()}},
                       {"contrast", {a.contrast_min(), a.contrast_max()}},
                       {"background_max", a.background_max()},
                       {"blur_sigma_px", {a.blur_sigma_min_px(), a.blur_sigma_max_px()}}};
  j["loss"] = {{"dice_weight", config_.dice_weight()},
               {"focal_gamma", config_.loss().focal_gamma()},
               {"false_positive_weight", config_.loss().false_positive_weight()}};
  if (validation_simulator_) j["validation_synthetic"] = validation_simulator_->Describe();
  j["validation_seed"] = config_.validation_seed();
  j["validation_images"] = config_.validation_images();
  if (!labelled_path_.empty()) {
    j["labelled"] = {{"path", labelled_path_},
                     {"train_images", labelled_train_.size()},
                     {"validation_images", labelled_validation_.size()},
                     {"split_seed", config_.labelled().split_seed()},
                     {"fraction_of_batch", config_.labelled_fraction()}};
  }
  return j.dump();
}

}  // namespace fringe
