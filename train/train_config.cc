#include "train/train_config.h"

#include <google/protobuf/text_format.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "base/file_util.h"
#include "models/model_config.h"
#include "models/torch_models.h"
#include "train/training_data.h"

namespace fringe {

namespace fs = std::filesystem;

void ApplyTrainConfigDefaults(v1::TrainConfig* c) {
  v1::ModelConfig* model = c->mutable_model();
  if (model->architecture().empty()) model->set_architecture("unet");
  ApplyModelConfigDefaults(model);
  if (c->tile() == 0) c->set_tile(128);
  if (c->batch_size() == 0) c->set_batch_size(8);
  if (c->steps() == 0) c->set_steps(1000);
  if (c->learning_rate() == 0) c->set_learning_rate(1e-3);
  if (c->min_learning_rate() == 0) c->set_min_learning_rate(c->learning_rate() / 50);
  if (c->dice_weight() == 0) c->set_dice_weight(1.0);
  if (c->validate_every() == 0) c->set_validate_every(100);
  if (c->validation_images() == 0) c->set_validation_images(32);
  if (c->seed() == 0) c->set_seed(1);
  if (c->validation_seed() == 0) c->set_validation_seed(c->seed() + 1000003);
  if (c->validation_size() == 0) c->set_validation_size(256);
  if (c->checkpoint_every() == 0) c->set_checkpoint_every(c->validate_every());
  if (c->threads() == 0) {
    c->set_threads(static_cast<int>(std::max(1u, std::thread::hardware_concurrency())));
  }
  if (c->data_workers() == 0) c->set_data_workers(1);
  if (c->backbone_lr_multiplier() == 0) c->set_backbone_lr_multiplier(1.0);
  if (c->has_labelled() && c->labelled().validation_fraction() == 0) {
    c->mutable_labelled()->set_validation_fraction(0.2);
  }
  if (c->has_labelled() && c->has_synthetic() && c->labelled_fraction() == 0) {
    c->set_labelled_fraction(0.5);
  }
  if (c->checkpoint_dir().empty() && !c->output_repository().empty()) {
    c->set_checkpoint_dir(
        (fs::path(c->output_repository()) / ".checkpoints" / c->output_name()).string());
  }
}

absl::Status ValidateTrainConfig(const v1::TrainConfig& c) {
  if (c.micro_batch() < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("micro_batch is ", c.micro_batch(), "; expected >= 0 (0 = whole batch)"));
  }
  if (!IsTorchArchitecture(c.model().architecture())) {
    return absl::InvalidArgumentError(
        absl::StrCat("model.architecture is \"", c.model().architecture(),
                     "\"; fringe-train trains \"unet\" and \"fcn8s\""));
  }
  if (absl::Status s = ValidateModelConfig(c.model()); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("model.", s.message()));
  }
  const int multiple = NetworkInputMultiple(c.model());
  if (c.tile() < multiple || c.tile() % multiple != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("tile ", c.tile(), " must be a positive multiple of ", multiple,
                     c.model().architecture() == "unet" ? " (2^depth)" : ""));
  }
  if (c.validation_size() % multiple != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("validation_size ", c.validation_size(), " must be a multiple of ", multiple));
  }
  if (c.batch_size() < 1 || c.batch_size() > 1024) {
    return absl::InvalidArgumentError("batch_size must be 1..1024");
  }
  if (c.steps() < 1) return absl::InvalidArgumentError("steps must be >= 1");
  if (c.max_minutes() < 0 || c.max_seconds() < 0) {
    return absl::InvalidArgumentError("max_minutes and max_seconds must be >= 0");
  }
  if (!(c.learning_rate() > 0) || c.min_learning_rate() < 0) {
    return absl::InvalidArgumentError("learning_rate must be > 0 and min_learning_rate >= 0");
  }
  if (c.validation_seed() == c.seed()) {
    return absl::InvalidArgumentError("validation_seed must differ from seed (held-out data)");
  }
  if (c.labelled_fraction() < 0 || c.labelled_fraction() > 1) {
    return absl::InvalidArgumentError("labelled_fraction must be in [0, 1]");
  }
  if (c.augmentation().noise_rho_max() < 0) {
    return absl::InvalidArgumentError("augmentation.noise_rho_max must be >= 0");
  }
  const v1::AugmentationConfig& a = c.augmentation();
  if (a.gamma_min() < 0 || a.gamma_max() < 0 ||
      (a.gamma_max() > 0 && a.gamma_min() > a.gamma_max())) {
    return absl::InvalidArgumentError(
        "augmentation.gamma_min/gamma_max must be >= 0 with min <= max (0 = off)");
  }
  if (a.contrast_min() < 0 || a.contrast_max() < 0 ||
      (a.contrast_max() > 0 && !(a.contrast_min() > 0 && a.contrast_min() <= a.contrast_max()))) {
    return absl::InvalidArgumentError(
        "augmentation.contrast_min/contrast_max must be > 0 with min <= max (both 0 = off)");
  }
  if (a.background_max() < 0) {
    return absl::InvalidArgumentError("augmentation.background_max must be >= 0");
  }
  if (a.blur_sigma_min_px() < 0 || a.blur_sigma_max_px() < 0 ||
      a.blur_sigma_min_px() > std::max(a.blur_sigma_max_px(), 0.0) || a.blur_sigma_max_px() > 20) {
    return absl::InvalidArgumentError(
        "augmentation.blur_sigma_min_px/max_px must be in [0, 20] with min <= max");
  }
  if (c.loss().focal_gamma() < 0 || c.loss().false_positive_weight() < 0) {
    return absl::InvalidArgumentError(
        "loss.focal_gamma and loss.false_positive_weight must be >= 0");
  }
  if (c.carbon_only_crop_fraction() < 0 || c.carbon_only_crop_fraction() > 1) {
    return absl::InvalidArgumentError("carbon_only_crop_fraction must be in [0, 1]");
  }
  if (absl::Status s = ValidateSyntheticDataConfig(c.synthetic(), c.model().pixel_size_nm(),
                                                   /*evaluation=*/false);
      !s.ok()) {
    return s;
  }
  if (!c.output_repository().empty() && c.output_name().empty()) {
    return absl::InvalidArgumentError("output_name is required with output_repository");
  }
  if (!c.vgg16_weights().empty() && c.model().architecture() != "fcn8s") {
    return absl::InvalidArgumentError(
        "vgg16_weights initialise an fcn8s backbone; model.architecture is not fcn8s");
  }
  if (!c.vgg16_weights().empty() && !c.init_from().empty()) {
    return absl::InvalidArgumentError("give vgg16_weights or init_from, not both");
  }
  if (c.freeze_backbone_steps() < 0) {
    return absl::InvalidArgumentError("freeze_backbone_steps must be >= 0");
  }
  if (c.freeze_backbone_steps() > 0 && c.vgg16_weights().empty() && c.init_from().empty()) {
    // A frozen random backbone only wastes the warm-up; most likely the weights flag was
    // forgotten (models/recipes/fcn8s_vgg16_imagenet.pbtxt needs --vgg16-weights).
    return absl::InvalidArgumentError(
        "freeze_backbone_steps needs a pretrained backbone: set vgg16_weights (fringe-train "
        "--vgg16-weights FILE) or init_from");
  }
  if (!(c.backbone_lr_multiplier() > 0)) {
    return absl::InvalidArgumentError("backbone_lr_multiplier must be > 0");
  }
  return absl::OkStatus();
}

absl::StatusOr<v1::TrainConfig> ParseTrainConfig(
    const std::string& text, const std::function<void(v1::TrainConfig*)>& edit) {
  v1::TrainConfig config;
  if (!google::protobuf::TextFormat::ParseFromString(text, &config)) {
    return absl::InvalidArgumentError("not a valid text-format fringe.v1.TrainConfig");
  }
  if (edit) edit(&config);
  ApplyTrainConfigDefaults(&config);
  if (absl::Status s = ValidateTrainConfig(config); !s.ok()) return s;
  return config;
}

absl::StatusOr<v1::TrainConfig> LoadTrainConfig(const std::string& path,
                                                const std::function<void(v1::TrainConfig*)>& edit) {
  auto text = ReadFile(path);
  if (!text.ok()) return text.status();
  auto config = ParseTrainConfig(*text, edit);
  if (!config.ok()) {
    return absl::Status(config.status().code(),
                        absl::StrCat(path, ": ", config.status().message()));
  }
  return config;
}

}  // namespace fringe
