#include "tests/support/tiny_training.h"

#include <google/protobuf/text_format.h>

#include <stdexcept>
#include <vector>

#include "fringe/v1/train_config.pb.h"

namespace fringe::testing {

const char kTinyTrainConfig[] = R"pb(
  model {
    architecture: "unet"
    unet { depth: 2 base_filters: 4 batch_norm: true dropout: 0.1 }
    tile_size: 64
    tile_margin: 8
    pixel_size_nm: 0.0225
  }
  synthetic {
    image_size: 64
    particles_min: 1
    particles_max: 2
    diameter_min_nm: 0.6
    diameter_max_nm: 1.0
    dose_min: 300
    dose_max: 1000
  }
  augmentation { flips: true rot90: true noise_rho_max: 0.2 }
  tile: 32
  batch_size: 4
  steps: 8
  learning_rate: 0.01
  validate_every: 4
  validation_images: 3
  validation_size: 64
  seed: 5
  threads: 1
  output_name: "tiny"
)pb";

std::string OverrideTrainFields(const std::string& base, const std::string& overrides) {
  v1::TrainConfig merged, over;
  if (!google::protobuf::TextFormat::ParseFromString(base, &merged)) {
    throw std::invalid_argument("test config does not parse: " + base);
  }
  if (!google::protobuf::TextFormat::ParseFromString(overrides, &over)) {
    throw std::invalid_argument("test overrides do not parse: " + overrides);
  }
  std::vector<const google::protobuf::FieldDescriptor*> fields;
  over.GetReflection()->ListFields(over, &fields);
  for (const auto* f : fields) merged.GetReflection()->ClearField(&merged, f);
  merged.MergeFrom(over);
  std::string text;
  google::protobuf::TextFormat::PrintToString(merged, &text);
  return text;
}

}  // namespace fringe::testing
