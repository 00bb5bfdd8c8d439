#include "models/model_config.h"

#include <google/protobuf/io/tokenizer.h>
#include <google/protobuf/text_format.h>

#include <algorithm>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "base/file_util.h"
#include "base/status_macros.h"
#include "models/fourier_bandpass.h"

namespace fringe {
namespace {

// Collects the first parse error with its position instead of printing to stderr.
class ErrorCollector : public google::protobuf::io::ErrorCollector {
 public:
  void AddError(int line, int column, const std::string& message) override {
    if (first_.empty())
      first_ = absl::StrCat("line ", line + 1, ", column ", column + 1, ": ", message);
  }
  const std::string& first() const { return first_; }

 private:
  std::string first_;
};

}  // namespace

void ApplyModelConfigDefaults(v1::ModelConfig* config) {
  if (config->architecture() == "fourier-bandpass") {
    // Big tiles (the FFT is cheap) and a margin beyond the reach of the smoothing and the
    // band-pass filter (~2.5 nm at 0.02 nm/px), so the stitched seams are invisible.
    if (config->tile_size() == 0) config->set_tile_size(1024);
    if (config->tile_margin() == 0) config->set_tile_margin(128);
    ApplyFourierBandpassDefaults(config->mutable_fourier_bandpass());
  }
  if (config->tile_margin() == 0) config->set_tile_margin(32);
  if (config->classes_size() == 0) {
    config->add_classes("background");
    config->add_classes("particle");
  }
  if (config->architecture() == "unet") {
    v1::UNetParams* unet = config->mutable_unet();
    if (unet->depth() == 0) unet->set_depth(4);
    if (unet->base_filters() == 0) unet->set_base_filters(16);
  }
  if (config->architecture() == "fcn8s") {
    v1::FCN8sParams* fcn = config->mutable_fcn8s();
    if (fcn->width_divisor() == 0) fcn->set_width_divisor(1);
    // VGG16's classifier width, scaled like the backbone (at least 1 channel).
    const int fc = std::max(1, 4096 / std::max(1, fcn->width_divisor()));
    if (fcn->fc6_channels() == 0) fcn->set_fc6_channels(fc);
    if (fcn->fc7_channels() == 0) fcn->set_fc7_channels(fc);
    if (fcn->fc6_kernel() == 0) fcn->set_fc6_kernel(7);
  }
  if (config->tile_size() == 0) config->set_tile_size(512);
}

int NetworkInputMultiple(const v1::ModelConfig& config) {
  if (config.architecture() == "unet") return 1 << config.unet().depth();
  // FCN8s pools with ceil mode and crops its up-sampled scores, so any size works.
  return 1;
}

absl::Status ValidateModelConfig(const v1::ModelConfig& config) {
  if (config.architecture().empty()) {
    return absl::InvalidArgumentError("architecture is empty");
  }
  if (config.tile_size() < 8 || config.tile_size() > 4096) {
    return absl::InvalidArgumentError(
        absl::StrCat("tile_size is ", config.tile_size(), "; expected 8..4096"));
  }
  if (config.tile_margin() < 0 || 2 * config.tile_margin() >= config.tile_size()) {
    return absl::InvalidArgumentError(absl::StrCat("tile_margin is ", config.tile_margin(),
                                                   "; expected 0 <= 2 * tile_margin < tile_size"));
  }
  if (config.classes_size() < 1 || config.classes_size() > 255) {
    return absl::InvalidArgumentError("classes must name 1..255 classes");
  }
  if (config.architecture() == "unet") {
    const v1::UNetParams& unet = config.unet();
    if (unet.depth() < 1 || unet.depth() > 7) {
      return absl::InvalidArgumentError(
          absl::StrCat("unet.depth is ", unet.depth(), "; expected 1..7"));
    }
    if (unet.base_filters() < 1 || unet.base_filters() > 256) {
      return absl::InvalidArgumentError(
          absl::StrCat("unet.base_filters is ", unet.base_filters(), "; expected 1..256"));
    }
    if (unet.dilation_size() != 0 && unet.dilation_size() != unet.depth() + 1) {
      return absl::InvalidArgumentError(
          absl::StrCat("unet.dilation has ", unet.dilation_size(),
                       " entries; expected 0 or depth + 1 = ", unet.depth() + 1));
    }
    for (int d : unet.dilation()) {
      if (d < 1 || d > 64) {
        return absl::InvalidArgumentError(
            absl::StrCat("unet.dilation contains ", d, "; expected 1..64"));
      }
    }
    if (unet.dropout() < 0 || unet.dropout() >= 1) {
      return absl::InvalidArgumentError("unet.dropout must be in [0, 1)");
    }
    const int multiple = 1 << unet.depth();
    if (config.tile_size() % multiple != 0) {
      return absl::InvalidArgumentError(absl::StrCat("tile_size ", config.tile_size(),
                                                     " is not a multiple of 2^depth = ", multiple));
    }
  }
  if (config.architecture() == "fcn8s") {
    const v1::FCN8sParams& fcn = config.fcn8s();
    if (fcn.width_divisor() < 1 || fcn.width_divisor() > 64) {
      return absl::InvalidArgumentError(
          absl::StrCat("fcn8s.width_divisor is ", fcn.width_divisor(), "; expected 1..64"));
    }
    if (fcn.fc6_channels() < 1 || fcn.fc6_channels() > 4096 || fcn.fc7_channels() < 1 ||
        fcn.fc7_channels() > 4096) {
      return absl::InvalidArgumentError(absl::StrCat("fcn8s.fc6_channels/fc7_channels are ",
                                                     fcn.fc6_channels(), "/", fcn.fc7_channels(),
                                                     "; expected 1..4096"));
    }
    if (fcn.fc6_kernel() < 1 || fcn.fc6_kernel() > 15 || fcn.fc6_kernel() % 2 == 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("fcn8s.fc6_kernel is ", fcn.fc6_kernel(), "; expected an odd size 1..15"));
    }
    if (fcn.dilation_size() != 0 && fcn.dilation_size() != 6) {
      return absl::InvalidArgumentError(
          absl::StrCat("fcn8s.dilation has ", fcn.dilation_size(),
                       " entries; expected 0 or 6 (5 blocks, then fc6)"));
    }
    for (int d : fcn.dilation()) {
      if (d < 1 || d > 64) {
        return absl::InvalidArgumentError(
            absl::StrCat("fcn8s.dilation contains ", d, "; expected 1..64"));
      }
    }
    if (fcn.dropout() < 0 || fcn.dropout() >= 1) {
      return absl::InvalidArgumentError("fcn8s.dropout must be in [0, 1)");
    }
  }
  if (config.architecture() == "fourier-bandpass") {
    if (absl::Status s = ValidateFourierBandpassConfig(config); !s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::Status ParseTextFormat(const std::string& text, google::protobuf::Message* message) {
  google::protobuf::TextFormat::Parser parser;
  ErrorCollector errors;
  parser.RecordErrorsTo(&errors);
  if (!parser.ParseFromString(text, message)) return absl::InvalidArgumentError(errors.first());
  return absl::OkStatus();
}

absl::StatusOr<v1::ModelConfig> ParseModelConfig(const std::string& text) {
  v1::ModelConfig config;
  if (absl::Status s = ParseTextFormat(text, &config); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("config.pbtxt: ", s.message()));
  }
  ApplyModelConfigDefaults(&config);
  if (absl::Status s = ValidateModelConfig(config); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("config.pbtxt: ", s.message()));
  }
  return config;
}

absl::StatusOr<v1::ModelConfig> LoadModelConfig(const std::string& path) {
  FRINGE_ASSIGN_OR_RETURN(const std::string text, ReadFile(path));
  return ParseModelConfig(text);
}

std::string ModelConfigToText(const v1::ModelConfig& config) {
  std::string text;
  google::protobuf::TextFormat::PrintToString(config, &text);
  return text;
}

bool IsTorchArchitecture(const std::string& architecture) {
  return architecture == "unet" || architecture == "fcn8s";
}

}  // namespace fringe
