#include "train/training_data.h"

#include <cmath>
#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>

#include "absl/strings/str_cat.h"
#include "common/frame_stats.h"
#include "data/labelled_dataset.h"
#include "sim/random.h"

namespace fringe {

uint64_t MixSeed(uint64_t a, uint64_t b, uint64_t c) {
  return sim::SplitMix64(sim::SplitMix64(sim::SplitMix64(a) ^ b) ^ c);
}

cv::Mat StandardiseFrame(const cv::Mat& frame) {
  return Standardise(frame, ComputeFrameStats(frame));
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

sim::SimulatorOptions SimulatorOptionsFrom(const v1::SyntheticDataConfig& s, int size) {
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

// A random crop of `tile` from a frame at least that large (zero-padded when smaller).
void Crop(const cv::Mat& image, const cv::Mat& mask, int tile, sim::Rng* rng, cv::Mat* image_out,
          cv::Mat* mask_out) {
  cv::Mat img = image, msk = mask;
  if (img.rows < tile || img.cols < tile) {
    const int pad_y = std::max(0, tile - img.rows), pad_x = std::max(0, tile - img.cols);
    cv::copyMakeBorder(img, img, 0, pad_y, 0, pad_x, cv::BORDER_CONSTANT, cv::Scalar(0));
    cv::copyMakeBorder(msk, msk, 0, pad_y, 0, pad_x, cv::BORDER_CONSTANT, cv::Scalar(0));
  }
  const int y = static_cast<int>(rng->UniformInt(0, img.rows - tile));
  const int x = static_cast<int>(rng->UniformInt(0, img.cols - tile));
  *image_out = img(cv::Rect(x, y, tile, tile)).clone();
  *mask_out = msk(cv::Rect(x, y, tile, tile)).clone();
}

}  // namespace

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
    auto simulator = sim::HrtemSimulator::Create(SimulatorOptionsFrom(config.synthetic(), size));
    if (!simulator.ok()) return simulator.status();
    data->simulator_ = *std::move(simulator);
  }
  auto validation = sim::HrtemSimulator::Create(
      SimulatorOptionsFrom(config.synthetic(), config.validation_size()));
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
  if (labelled) {
    const Labelled& item = labelled_train_[rng.UniformInt(0, labelled_train_.size() - 1)];
    Crop(item.image, item.mask, tile, &rng, &image, &mask);
  } else {
    // Image index = global tile counter: every training image is a distinct simulation.
    const uint64_t index = static_cast<uint64_t>(step) * config_.batch_size() + i;
    const sim::Sample sample = simulator_->Generate(config_.seed(), index);
    Crop(StandardiseFrame(sample.image), sample.mask, tile, &rng, &image, &mask);
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
    const sim::Sample s = validation_simulator_->Generate(config_.validation_seed(), i);
    set.push_back({StandardiseFrame(s.image), s.mask, s.params.dose_e_per_a2,
                   absl::StrCat("synthetic_", config_.validation_seed(), "_", i),
                   s.params.pixel_size_nm});
  }
  for (const Labelled& l : labelled_validation_) {
    set.push_back({l.image, l.mask, l.dose, l.stem});
  }
  return set;
}

std::string TrainingData::Describe() const {
  nlohmann::json j;
  if (simulator_) {
    j["synthetic"] = sim::SimulatorOptionsToJson(simulator_->options());
    j["synthetic_seed"] = config_.seed();
  }
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
