#include "models/model_registry.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "models/fourier_bandpass.h"
#include "models/repository_layout.h"

namespace fringe {

ModelRegistry ModelRegistry::WithBuiltins() {
  ModelRegistry registry;
  (void)registry.Register("unet", [](const v1::ModelConfig& config, const LoadContext& context) {
    return LoadUNetSegmenter(config, repository_layout::WeightsPath(context.version_dir),
                             context.runtime);
  });
  // FCN8s-VGG16 and its dilated variants (fcn8s.dilation): eager LibTorch, any tile size.
  (void)registry.Register("fcn8s", [](const v1::ModelConfig& config, const LoadContext& context) {
    return LoadFCN8sSegmenter(config, repository_layout::WeightsPath(context.version_dir),
                              context.runtime);
  });
  // The non-learning baseline: everything it needs is in config.pbtxt (no weights file).
  (void)registry.Register("fourier-bandpass",
                          [](const v1::ModelConfig& config, const LoadContext& /*context*/) {
                            return CreateFourierBandpassSegmenter(config);
                          });
  return registry;
}

absl::Status ModelRegistry::Register(const std::string& architecture, SegmenterFactory factory) {
  if (!factories_.emplace(architecture, std::move(factory)).second) {
    return absl::AlreadyExistsError(
        absl::StrCat("architecture ", architecture, " is already registered"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<Segmenter>> ModelRegistry::Create(const v1::ModelConfig& config,
                                                                 const LoadContext& context) const {
  auto it = factories_.find(config.architecture());
  if (it == factories_.end()) {
    return absl::NotFoundError(absl::StrCat("unknown architecture \"", config.architecture(),
                                            "\"; known: ", absl::StrJoin(architectures(), ", ")));
  }
  return it->second(config, context);
}

std::vector<std::string> ModelRegistry::architectures() const {
  std::vector<std::string> names;
  for (const auto& [name, factory] : factories_) names.push_back(name);
  return names;
}

}  // namespace fringe
