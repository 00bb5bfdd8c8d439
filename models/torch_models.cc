#include "models/torch_models.h"

#include <cstdio>
#include <filesystem>
#include <map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "models/fcn8s.h"
#include "models/fcn8s_io.h"
#include "models/model_config.h"
#include "models/segmentation_net.h"
#include "models/unet.h"
#include "models/unet_io.h"
#include "models/unet_onednn.h"

namespace fringe {
namespace {

class UNetSegmenter final : public Segmenter {
 public:
  UNetSegmenter(UNet net, torch::Device device, int num_classes, int multiple, bool onednn)
      : net_(std::move(net)), device_(device), num_classes_(num_classes), multiple_(multiple) {
    for (const auto& p : net_->parameters()) parameters_ += p.numel();
    if (onednn && device_.is_cpu() && UNetOneDnnPlan::Available()) {
      plan_ = std::make_unique<UNetOneDnnPlan>(net_);
    }
  }

  absl::Status Predict(const float* input, int n, int h, int w,
                       std::vector<float>* probs) const override {
    if (n <= 0 || h % multiple_ != 0 || w % multiple_ != 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("tile ", h, "x", w, " is not a multiple of ", multiple_));
    }
    try {
      c10::InferenceMode inference;
      torch::Tensor x = torch::from_blob(const_cast<float*>(input), {n, 1, h, w}, torch::kFloat32);
      if (device_ != torch::kCPU) x = x.to(device_);
      const torch::Tensor logits = plan_ ? plan_->Forward(x) : net_->forward(x);
      torch::Tensor p = torch::softmax(logits, 1).to(torch::kCPU).contiguous();
      probs->assign(p.data_ptr<float>(), p.data_ptr<float>() + p.numel());
    } catch (const c10::Error& e) {
      return absl::InternalError(
          absl::StrCat("U-Net forward failed: ", e.what_without_backtrace()));
    }
    return absl::OkStatus();
  }

  int num_classes() const override { return num_classes_; }
  int input_multiple() const override { return multiple_; }
  int64_t parameter_count() const override { return parameters_; }

 private:
  // forward() is not const in the torch API, but in eval + inference mode it mutates nothing.
  mutable UNet net_;
  std::unique_ptr<UNetOneDnnPlan> plan_;  // Null: eager module.
  torch::Device device_;
  int num_classes_;
  int multiple_;
  int64_t parameters_ = 0;
};

// Any SegmentationNet run eagerly (FCN8s): no oneDNN plan, InferenceMode, BatchNorm folded.
// Eager convolutions already go through oneDNN one layer at a time; what the U-Net plan adds
// (weights reordered once, blocked activations end to end) would need an FCN-specific plan,
// which waits until the architecture study says FCN8s is worth serving fast.
class EagerSegmenter final : public Segmenter {
 public:
  EagerSegmenter(SegmentationNet net, torch::Device device, int num_classes, int multiple)
      : net_(std::move(net)), device_(device), num_classes_(num_classes), multiple_(multiple) {
    for (const auto& p : net_.module->parameters()) {
      if (p.requires_grad()) parameters_ += p.numel();
    }
  }

  absl::Status Predict(const float* input, int n, int h, int w,
                       std::vector<float>* probs) const override {
    if (n <= 0 || h <= 0 || w <= 0 || h % multiple_ != 0 || w % multiple_ != 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("tile ", h, "x", w, " is not a positive multiple of ", multiple_));
    }
    try {
      c10::InferenceMode inference;
      torch::Tensor x = torch::from_blob(const_cast<float*>(input), {n, 1, h, w}, torch::kFloat32);
      if (device_ != torch::kCPU) x = x.to(device_);
      const torch::Tensor logits = net_.forward(x);
      torch::Tensor p = torch::softmax(logits, 1).to(torch::kCPU).contiguous();
      probs->assign(p.data_ptr<float>(), p.data_ptr<float>() + p.numel());
    } catch (const c10::Error& e) {
      return absl::InternalError(
          absl::StrCat(net_.architecture, " forward failed: ", e.what_without_backtrace()));
    }
    return absl::OkStatus();
  }

  int num_classes() const override { return num_classes_; }
  int input_multiple() const override { return multiple_; }
  int64_t parameter_count() const override { return parameters_; }

 private:
  SegmentationNet net_;  // Eval mode; forward() mutates nothing under InferenceMode.
  torch::Device device_;
  int num_classes_;
  int multiple_;
  int64_t parameters_ = 0;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Segmenter>> LoadFCN8sSegmenter(const v1::ModelConfig& config,
                                                              const std::string& weights_path,
                                                              const RuntimeOptions& runtime) {
  if (config.architecture() != "fcn8s") {
    return absl::InvalidArgumentError(
        absl::StrCat("LoadFCN8sSegmenter got architecture ", config.architecture()));
  }
  auto loaded = LoadSegmentationNet(config, weights_path);
  if (!loaded.ok()) return loaded.status();
  try {
    torch::Device device(runtime.device);
    SegmentationNet net = *std::move(loaded);
    net.module->eval();
    net.fold_batch_norm();
    net.module->to(device);
    return std::make_unique<EagerSegmenter>(std::move(net), device, config.classes_size(),
                                            /*multiple=*/1);
  } catch (const c10::Error& e) {
    return absl::InvalidArgumentError(absl::StrCat("cannot load FCN8s weights from ", weights_path,
                                                   ": ", e.what_without_backtrace()));
  }
}

absl::StatusOr<std::unique_ptr<Segmenter>> LoadUNetSegmenter(const v1::ModelConfig& config,
                                                             const std::string& weights_path,
                                                             const RuntimeOptions& runtime) {
  auto loaded = LoadUNetWeights(config, weights_path);
  if (!loaded.ok()) return loaded.status();
  try {
    torch::Device device(runtime.device);
    UNet net = *std::move(loaded);
    net->eval();
    net->FoldBatchNorm();
    net->to(device);
    return std::make_unique<UNetSegmenter>(std::move(net), device, config.classes_size(),
                                           1 << config.unet().depth(), runtime.onednn);
  } catch (const c10::Error& e) {
    return absl::InvalidArgumentError(absl::StrCat("cannot load U-Net weights from ", weights_path,
                                                   ": ", e.what_without_backtrace()));
  }
}

namespace {

// Writes `module`'s weights to a temporary file renamed over `weights_path` (readers never see
// half a file), as torch::save would write them.
absl::Status SaveWeightsAtomically(const torch::nn::Module& module,
                                   const std::string& weights_path) {
  try {
    const std::string tmp = weights_path + ".tmp";
    torch::serialize::OutputArchive archive;
    module.save(archive);
    archive.save_to(tmp);
    std::filesystem::rename(tmp, weights_path);
  } catch (const c10::Error& e) {
    return absl::InternalError(
        absl::StrCat("cannot write ", weights_path, ": ", e.what_without_backtrace()));
  } catch (const std::filesystem::filesystem_error& e) {
    return absl::InternalError(absl::StrCat("cannot write ", weights_path, ": ", e.what()));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status WriteInitialUNetWeights(const v1::ModelConfig& config, const std::string& weights_path,
                                     uint64_t seed) {
  try {
    torch::manual_seed(seed);
    UNet net(UNetOptionsFromConfig(config));
    return SaveWeightsAtomically(*net, weights_path);
  } catch (const c10::Error& e) {
    return absl::InternalError(
        absl::StrCat("cannot build a U-Net for ", weights_path, ": ", e.what_without_backtrace()));
  }
}

absl::Status WriteInitialWeights(const v1::ModelConfig& config_in, const std::string& weights_path,
                                 uint64_t seed, const std::string& vgg16_weights,
                                 std::string* summary) {
  // Unset fields (e.g. fcn8s.fc6_kernel) mean their defaults, as when the version loads.
  v1::ModelConfig config = config_in;
  ApplyModelConfigDefaults(&config);
  if (absl::Status s = ValidateModelConfig(config); !s.ok()) return s;
  if (config.architecture() == "unet" && vgg16_weights.empty()) {
    return WriteInitialUNetWeights(config, weights_path, seed);
  }
  if (!vgg16_weights.empty() && config.architecture() != "fcn8s") {
    return absl::InvalidArgumentError(
        absl::StrCat("VGG16 weights initialise architecture fcn8s, not ", config.architecture()));
  }
  try {
    torch::manual_seed(seed);
    auto net = BuildSegmentationNet(config);
    if (!net.ok()) return net.status();
    if (!vgg16_weights.empty()) {
      auto imported =
          ImportVgg16Weights(*std::dynamic_pointer_cast<FCN8sImpl>(net->module), vgg16_weights);
      if (!imported.ok()) return imported.status();
      if (summary) *summary = imported->summary;
    }
    return SaveWeightsAtomically(*net->module, weights_path);
  } catch (const c10::Error& e) {
    return absl::InternalError(
        absl::StrCat("cannot build weights for ", weights_path, ": ", e.what_without_backtrace()));
  }
}

void SetTorchIntraOpThreads(int threads) {
  if (threads > 0) torch::set_num_threads(threads);
}

int GetTorchIntraOpThreads() { return torch::get_num_threads(); }

}  // namespace fringe
