// LibTorch-backed models behind torch-free declarations, so callers need no torch headers.
#ifndef FRINGE_MODELS_TORCH_MODELS_H_
#define FRINGE_MODELS_TORCH_MODELS_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "fringe/v1/model_config.pb.h"
#include "models/segmenter.h"

namespace fringe {

struct RuntimeOptions {
  std::string device = "cpu";  // "cpu" or "cuda:N".
  // On CPU, run U-Nets through the oneDNN plan (models/unet_onednn.h) when the LibTorch build
  // has MKL-DNN; false forces the eager module (for comparisons).
  bool onednn = true;
};

// Loads a U-Net version from its config and weights file, puts it in eval mode, folds its
// BatchNorm layers and moves it to the device. Errors name the file and the problem
// (missing file, keys or shapes that do not match the config).
absl::StatusOr<std::unique_ptr<Segmenter>> LoadUNetSegmenter(const v1::ModelConfig& config,
                                                             const std::string& weights_path,
                                                             const RuntimeOptions& runtime);

// Writes freshly initialised U-Net weights for `config` (seeded, reproducible) to
// `weights_path` via a temporary file and rename.
absl::Status WriteInitialUNetWeights(const v1::ModelConfig& config, const std::string& weights_path,
                                     uint64_t seed);

// Loads an FCN8s version (architecture "fcn8s"), puts it in eval mode, folds any BatchNorm and
// moves it to the device. It runs eagerly under InferenceMode: the oneDNN plan
// (models/unet_onednn.h) is built around the U-Net's layer structure only. Any tile size
// works (input_multiple() is 1). Errors as for LoadUNetSegmenter.
absl::StatusOr<std::unique_ptr<Segmenter>> LoadFCN8sSegmenter(const v1::ModelConfig& config,
                                                              const std::string& weights_path,
                                                              const RuntimeOptions& runtime);

// Writes freshly initialised weights for any torch architecture ("unet", "fcn8s"); with
// `vgg16_weights` (fcn8s only) the backbone comes from ImageNet (models/fcn8s_io.h) and
// `summary`, when given, receives the import's one-line description.
absl::Status WriteInitialWeights(const v1::ModelConfig& config, const std::string& weights_path,
                                 uint64_t seed, const std::string& vgg16_weights = "",
                                 std::string* summary = nullptr);

// The one-line Python command that converts torchvision's ImageNet vgg16 weights into a file
// LibTorch can read (models/fcn8s_io.h explains why a conversion is needed).
extern const char kVgg16ConvertCommand[];

// Sets LibTorch's intra-op thread count for the process (it defaults to 1 here).
void SetTorchIntraOpThreads(int threads);
int GetTorchIntraOpThreads();

}  // namespace fringe

#endif  // FRINGE_MODELS_TORCH_MODELS_H_
