// Building a U-Net from its config and loading weights files with shape checks (any network:
// U-Net and FCN8s), shared by serving, training and attribution. Includes torch: only torch
// translation units include it.
#ifndef FRINGE_MODELS_UNET_IO_H_
#define FRINGE_MODELS_UNET_IO_H_

#include <string>

#include "absl/status/statusor.h"
#include "fringe/v1/model_config.pb.h"
#include "models/unet.h"

namespace fringe {

// The module options a config's `unet` section and class list describe.
UNetOptions UNetOptionsFromConfig(const v1::ModelConfig& config);

// Builds the U-Net `config` describes and loads `weights_path` (written by torch::save) into
// it. torch::load replaces tensors whatever their shape, so every parameter and buffer is
// checked against the config: INVALID_ARGUMENT names the first tensor that does not fit (or
// the loader's error), NOT_FOUND a missing file. The module is returned in training mode.
// Loads `weights_path` (written by torch::save) into `net`, checking every parameter and
// buffer against the shape `net` was built with (torch::load replaces tensors whatever their
// shape): INVALID_ARGUMENT names the first tensor that does not fit. Throws c10::Error for an
// unreadable file, like torch::load.
absl::Status LoadWeightsChecked(torch::nn::Module& net, const std::string& weights_path);

absl::StatusOr<UNet> LoadUNetWeights(const v1::ModelConfig& config,
                                     const std::string& weights_path);

}  // namespace fringe

#endif  // FRINGE_MODELS_UNET_IO_H_
