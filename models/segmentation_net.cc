#include "models/segmentation_net.h"

#include <filesystem>
#include <map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "models/fcn8s.h"
#include "models/fcn8s_io.h"
#include "models/unet.h"
#include "models/unet_io.h"

namespace fringe {
namespace {

SegmentationNet Wrap(UNet net) {
  SegmentationNet out;
  out.architecture = "unet";
  std::shared_ptr<UNetImpl> impl = net.ptr();
  out.module = impl;
  out.forward = [impl](const torch::Tensor& x) { return impl->forward(x); };
  out.backbone_parameters = [impl] {
    std::vector<torch::Tensor> params;
    for (const auto& block : *impl->down) {
      for (const auto& p : block->parameters()) params.push_back(p);
    }
    for (const auto& p : impl->bottleneck->parameters()) params.push_back(p);
    return params;
  };
  out.fold_batch_norm = [impl] { impl->FoldBatchNorm(); };
  return out;
}

SegmentationNet Wrap(FCN8s net) {
  SegmentationNet out;
  out.architecture = "fcn8s";
  std::shared_ptr<FCN8sImpl> impl = net.ptr();
  out.module = impl;
  out.forward = [impl](const torch::Tensor& x) { return impl->forward(x); };
  out.backbone_parameters = [impl] { return impl->BackboneParameters(); };
  out.fold_batch_norm = [impl] { impl->FoldBatchNorm(); };
  return out;
}

}  // namespace

absl::StatusOr<SegmentationNet> BuildSegmentationNet(const v1::ModelConfig& config) {
  try {
    if (config.architecture() == "unet") return Wrap(UNet(UNetOptionsFromConfig(config)));
    if (config.architecture() == "fcn8s") return Wrap(FCN8s(FCN8sOptionsFromConfig(config)));
  } catch (const c10::Error& e) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot build a ", config.architecture(), ": ", e.what_without_backtrace()));
  }
  return absl::InvalidArgumentError(
      absl::StrCat("architecture \"", config.architecture(), "\" is not a torch network"));
}

absl::StatusOr<SegmentationNet> LoadSegmentationNet(const v1::ModelConfig& config,
                                                    const std::string& weights_path) {
  if (config.architecture() == "unet") {
    // The U-Net loader is shared with the attribution engine; keep one.
    auto net = LoadUNetWeights(config, weights_path);
    if (!net.ok()) return net.status();
    return Wrap(*std::move(net));
  }
  if (!std::filesystem::exists(weights_path)) {
    return absl::NotFoundError(absl::StrCat("weights file ", weights_path, " does not exist"));
  }
  auto net = BuildSegmentationNet(config);
  if (!net.ok()) return net.status();
  try {
    if (absl::Status s = LoadWeightsChecked(*net->module, weights_path); !s.ok()) return s;
  } catch (const c10::Error& e) {
    return absl::InvalidArgumentError(absl::StrCat("cannot load ", config.architecture(),
                                                   " weights from ", weights_path, ": ",
                                                   e.what_without_backtrace()));
  }
  return net;
}

}  // namespace fringe
