#include "models/unet_io.h"

#include <filesystem>
#include <map>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "base/status_macros.h"

namespace fringe {

UNetOptions UNetOptionsFromConfig(const v1::ModelConfig& config) {
  UNetOptions options;
  options.num_classes = config.classes_size();
  options.depth = config.unet().depth();
  options.base_filters = config.unet().base_filters();
  options.dilation.assign(config.unet().dilation().begin(), config.unet().dilation().end());
  options.batch_norm = config.unet().batch_norm();
  options.dropout = config.unet().dropout();
  return options;
}

absl::Status LoadWeightsChecked(torch::nn::Module& net, const std::string& weights_path) {
  std::map<std::string, std::vector<int64_t>> expected;
  for (const auto& item : net.named_parameters()) expected[item.key()] = item.value().sizes().vec();
  for (const auto& item : net.named_buffers()) expected[item.key()] = item.value().sizes().vec();
  torch::serialize::InputArchive archive;
  // Onto the CPU whatever device the file was saved from: callers move the net themselves
  // (LoadUNetSegmenter/LoadFCN8sSegmenter to the runtime device; the explainer and the trainer
  // run on the CPU), and a CPU-only host can still read weights saved from a CUDA module.
  archive.load_from(weights_path, torch::Device(torch::kCPU));
  net.load(archive);
  auto check = [&](const std::string& key, const torch::Tensor& t) -> absl::Status {
    if (t.sizes().vec() != expected[key]) {
      return absl::InvalidArgumentError(absl::StrCat(
          weights_path, ": tensor ", key, " has shape [", absl::StrJoin(t.sizes(), ","),
          "] but the config needs [", absl::StrJoin(expected[key], ","), "]"));
    }
    return absl::OkStatus();
  };
  for (const auto& item : net.named_parameters()) {
    if (absl::Status s = check(item.key(), item.value()); !s.ok()) return s;
  }
  for (const auto& item : net.named_buffers()) {
    if (absl::Status s = check(item.key(), item.value()); !s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::StatusOr<UNet> LoadUNetWeights(const v1::ModelConfig& config,
                                     const std::string& weights_path) {
  if (!std::filesystem::exists(weights_path)) {
    return absl::NotFoundError(absl::StrCat("weights file ", weights_path, " does not exist"));
  }
  try {
    UNet net(UNetOptionsFromConfig(config));
    FRINGE_RETURN_IF_ERROR(LoadWeightsChecked(*net, weights_path));
    return net;
  } catch (const c10::Error& e) {
    return absl::InvalidArgumentError(absl::StrCat("cannot load U-Net weights from ", weights_path,
                                                   ": ", e.what_without_backtrace()));
  }
}

}  // namespace fringe
