// Maps architecture names ("unet", ...) to the code that builds a Segmenter from a version
// directory. Built explicitly (no global registry): the server uses WithBuiltins(), tests may
// add their own architectures.
#ifndef FRINGE_MODELS_MODEL_REGISTRY_H_
#define FRINGE_MODELS_MODEL_REGISTRY_H_

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "fringe/v1/model_config.pb.h"
#include "models/segmenter.h"
#include "models/torch_models.h"

namespace fringe {

struct LoadContext {
  std::string version_dir;  // <repository>/<name>/<version>
  RuntimeOptions runtime;
};

using SegmenterFactory = std::function<absl::StatusOr<std::unique_ptr<Segmenter>>(
    const v1::ModelConfig&, const LoadContext&)>;

class ModelRegistry {
 public:
  // A registry with every architecture fringe ships ("unet", "fcn8s", "fourier-bandpass").
  static ModelRegistry WithBuiltins();

  // Adds an architecture; ALREADY_EXISTS if the name is taken.
  absl::Status Register(const std::string& architecture, SegmenterFactory factory);

  // Builds the model; NOT_FOUND (listing the known names) for an unknown architecture.
  absl::StatusOr<std::unique_ptr<Segmenter>> Create(const v1::ModelConfig& config,
                                                    const LoadContext& context) const;

  std::vector<std::string> architectures() const;

 private:
  std::map<std::string, SegmenterFactory> factories_;
};

}  // namespace fringe

#endif  // FRINGE_MODELS_MODEL_REGISTRY_H_
