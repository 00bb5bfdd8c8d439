// A training run's configuration (fringe.v1.TrainConfig): text parsing, defaults and
// validation. Torch-free, so the server validates a submitted job with the very rules the
// trainer applies before anything is queued.
#ifndef FRINGE_TRAIN_TRAIN_CONFIG_H_
#define FRINGE_TRAIN_TRAIN_CONFIG_H_

#include <functional>
#include <string>

#include "absl/status/statusor.h"
#include "fringe/v1/train_config.pb.h"

namespace fringe {

// Parses a text-format TrainConfig, fills defaults and validates it.
// `edit`, when given, changes the parsed config before defaults are filled in (command-line
// overrides).
absl::StatusOr<v1::TrainConfig> ParseTrainConfig(
    const std::string& text, const std::function<void(v1::TrainConfig*)>& edit = nullptr);
absl::StatusOr<v1::TrainConfig> LoadTrainConfig(
    const std::string& path, const std::function<void(v1::TrainConfig*)>& edit = nullptr);
void ApplyTrainConfigDefaults(v1::TrainConfig* config);
// INVALID_ARGUMENT naming the first field that is wrong.
absl::Status ValidateTrainConfig(const v1::TrainConfig& config);

}  // namespace fringe

#endif  // FRINGE_TRAIN_TRAIN_CONFIG_H_
