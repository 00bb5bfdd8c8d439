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

// Sets LibTorch's intra-op thread count for the process (it defaults to 1 here).
void SetTorchIntraOpThreads(int threads);
int GetTorchIntraOpThreads();

}  // namespace fringe

#endif  // FRINGE_MODELS_TORCH_MODELS_H_
