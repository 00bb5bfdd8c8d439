// A trainable segmentation network of any torch architecture ("unet", "fcn8s") behind one
// handle, so training, serving and the receptive-field probe build networks by the config's
// architecture instead of assuming a U-Net. Includes torch: only torch translation units
// include it.
#ifndef FRINGE_MODELS_SEGMENTATION_NET_H_
#define FRINGE_MODELS_SEGMENTATION_NET_H_

#include <torch/torch.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "fringe/v1/model_config.pb.h"
#include "models/model_config.h"  // IsTorchArchitecture

namespace fringe {

struct SegmentationNet {
  std::string architecture;
  // The module itself: parameters(), train()/eval(), to(), torch::save/torch::load. Its
  // archive is the same as the concrete holder's (UNet, FCN8s), so files stay compatible.
  std::shared_ptr<torch::nn::Module> module;
  // Logits N x classes x H x W for N x 1 x H x W input (sides multiples of
  // NetworkInputMultiple(config)).
  std::function<torch::Tensor(const torch::Tensor&)> forward;
  // What a pretrained network supplies and fine-tuning freezes: the U-Net's encoder and
  // bottleneck, FCN8s's conv1_1..conv5_3, fc6 and fc7.
  std::function<std::vector<torch::Tensor>()> backbone_parameters;
  // Folds eval-mode BatchNorm into the convolutions (serving).
  std::function<void()> fold_batch_norm;
};

// A freshly initialised network (draws from torch's global generator: seed it first).
// INVALID_ARGUMENT for an architecture that is not a torch network.
absl::StatusOr<SegmentationNet> BuildSegmentationNet(const v1::ModelConfig& config);

// Builds the network and loads `weights_path` (torch::save of the module) into it, checking
// every parameter and buffer against the config: INVALID_ARGUMENT names the first tensor that
// does not fit, NOT_FOUND a missing file. Returned in training mode.
absl::StatusOr<SegmentationNet> LoadSegmentationNet(const v1::ModelConfig& config,
                                                    const std::string& weights_path);

}  // namespace fringe

#endif  // FRINGE_MODELS_SEGMENTATION_NET_H_
