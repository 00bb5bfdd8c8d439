// Reading and validating a model version's config.pbtxt.
#ifndef FRINGE_MODELS_MODEL_CONFIG_H_
#define FRINGE_MODELS_MODEL_CONFIG_H_

#include <string>

#include "absl/status/statusor.h"
#include "fringe/v1/model_config.pb.h"

namespace fringe {

// Parses text-format `fringe.v1.ModelConfig`, fills defaults and validates it. Errors are
// INVALID_ARGUMENT with the line/column of a syntax error or the offending field.
absl::StatusOr<v1::ModelConfig> ParseModelConfig(const std::string& text);

// Parses text format into `message`; INVALID_ARGUMENT "line L, column C: ..." for the first
// error (instead of protobuf printing it to stderr).
absl::Status ParseTextFormat(const std::string& text, google::protobuf::Message* message);

// Reads and parses `path` (NOT_FOUND when the file does not exist).
absl::StatusOr<v1::ModelConfig> LoadModelConfig(const std::string& path);

// Fills unset fields with their documented defaults (tile margin, classes, U-Net and FCN8s
// sizes).
void ApplyModelConfigDefaults(v1::ModelConfig* config);

// Checks ranges and consistency (e.g. tile size a multiple of 2^depth).
absl::Status ValidateModelConfig(const v1::ModelConfig& config);

// Tile sides a network accepts must be multiples of this: 2^depth for a U-Net, 1 for FCN8s
// (and for anything that is not a network).
int NetworkInputMultiple(const v1::ModelConfig& config);

// True for the architectures that are LibTorch networks ("unet", "fcn8s"): what
// BuildSegmentationNet builds, the attribution engine explains and has a receptive field.
bool IsTorchArchitecture(const std::string& architecture);

// Serialises a config as text format (for writing config.pbtxt).
std::string ModelConfigToText(const v1::ModelConfig& config);

}  // namespace fringe

#endif  // FRINGE_MODELS_MODEL_CONFIG_H_
