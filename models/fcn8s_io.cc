#include "models/fcn8s_io.h"

#include <torch/script.h>

#include <filesystem>
#include <fstream>
#include <iterator>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace fringe {

const char kVgg16ConvertCommand[] =
    "python3 -c \"import torch, torchvision; "
    "torch.save(dict(torchvision.models.vgg16(weights='IMAGENET1K_V1').state_dict()), "
    "'vgg16_imagenet.pt', _use_new_zipfile_serialization=True)\"";

namespace {

// torchvision's vgg16.features indices of the 13 convolutions (ReLUs and pools in between).
constexpr int kFeatureIndex[13] = {0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28};
constexpr std::array<int, 5> kFullWidth = {64, 128, 256, 512, 512};

std::string Shape(const std::vector<int64_t>& shape) {
  return absl::StrCat("[", absl::StrJoin(shape, ","), "]");
}

// The first line of a LibTorch error (its messages carry long backtraces and hints).
std::string FirstLine(const std::string& message) { return message.substr(0, message.find('\n')); }

}  // namespace

FCN8sOptions FCN8sOptionsFromConfig(const v1::ModelConfig& config) {
  const v1::FCN8sParams& p = config.fcn8s();
  FCN8sOptions options;
  options.num_classes = config.classes_size();
  const int divisor = std::max(1, p.width_divisor());
  for (int i = 0; i < 5; ++i) options.block_channels[i] = std::max(1, kFullWidth[i] / divisor);
  options.fc6_channels = p.fc6_channels();
  options.fc7_channels = p.fc7_channels();
  options.fc6_kernel = p.fc6_kernel();
  options.dilation.assign(p.dilation().begin(), p.dilation().end());
  options.batch_norm = p.batch_norm();
  options.dropout = p.dropout();
  options.learn_upsampling = p.learn_upsampling();
  return options;
}

absl::StatusOr<std::map<std::string, torch::Tensor>> ReadTorchStateDict(const std::string& path) {
  if (!std::filesystem::exists(path)) {
    return absl::NotFoundError(absl::StrCat("weights file ", path, " does not exist"));
  }
  std::ifstream in(path, std::ios::binary);
  const std::vector<char> bytes((std::istreambuf_iterator<char>(in)),
                                std::istreambuf_iterator<char>());
  std::string pickle_error;
  try {
    const c10::IValue value = torch::pickle_load(bytes);
    if (value.isGenericDict()) {
      std::map<std::string, torch::Tensor> out;
      for (const auto& entry : value.toGenericDict()) {
        if (!entry.key().isString() || !entry.value().isTensor()) {
          return absl::InvalidArgumentError(
              absl::StrCat(path, " holds a dict whose entries are not all name -> tensor"));
        }
        out[entry.key().toStringRef()] = entry.value().toTensor();
      }
      return out;
    }
    pickle_error = absl::StrCat("it holds a ", value.tagKind(), ", not a dict of tensors");
  } catch (const c10::Error& e) {
    pickle_error = FirstLine(e.what_without_backtrace());
  }
  try {
    // A TorchScript archive (torch.jit.save) keeps the module's parameter names.
    const torch::jit::Module module = torch::jit::load(path, torch::kCPU);
    std::map<std::string, torch::Tensor> out;
    for (const auto& p : module.named_parameters(/*recurse=*/true)) out[p.name] = p.value;
    for (const auto& b : module.named_buffers(/*recurse=*/true)) out[b.name] = b.value;
    return out;
  } catch (const c10::Error&) {
    // Not TorchScript either: report what the pickle reader said, which is the format we ask
    // users for.
  }
  std::string why = pickle_error;
  if (absl::StrContains(pickle_error, "GenericDict but got None")) {
    why = "it holds an OrderedDict (a state_dict() saved as is), which LibTorch cannot unpickle";
  } else if (absl::StrContains(pickle_error, "PytorchStreamReader")) {
    why = absl::StrCat("it is not a zip-format torch.save file (", pickle_error, ")");
  }
  return absl::InvalidArgumentError(
      absl::StrCat("cannot read ", path, " as a dict of tensors: ", why,
                   ". Convert torchvision's weights once with: ", kVgg16ConvertCommand));
}

std::vector<std::pair<std::string, std::vector<int64_t>>> Vgg16ImportShapes(
    const FCN8sOptions& options) {
  const FCN8sOptions& o = options;
  std::vector<std::pair<std::string, std::vector<int64_t>>> shapes;
  int64_t in = 3;  // RGB in torchvision; conv1_1 is summed over it on import.
  int index = 0;
  for (int block = 0; block < 5; ++block) {
    const int64_t out = o.block_channels[block];
    for (int i = 0; i < FCN8sImpl::kConvsPerBlock[block]; ++i, ++index) {
      const std::string key = absl::StrCat("features.", kFeatureIndex[index]);
      shapes.push_back({key + ".weight", {out, in, 3, 3}});
      shapes.push_back({key + ".bias", {out}});
      in = out;
    }
  }
  if (o.fc6_kernel == 7) {
    // torchvision flattens pool5 (C x 7 x 7) in C, H, W order before classifier.0.
    const int64_t c5 = o.block_channels[4];
    shapes.push_back({"classifier.0.weight", {o.fc6_channels, c5 * 7 * 7}});
    shapes.push_back({"classifier.0.bias", {o.fc6_channels}});
    shapes.push_back({"classifier.3.weight", {o.fc7_channels, o.fc6_channels}});
    shapes.push_back({"classifier.3.bias", {o.fc7_channels}});
  }
  return shapes;
}

namespace {

absl::Status CheckImportable(const FCN8sImpl& net, const Vgg16ImportOptions& options) {
  const FCN8sOptions& o = net.options();
  if (!options.allow_reduced_width && o.block_channels != kFullWidth) {
    return absl::FailedPreconditionError(absl::StrCat(
        "ImageNet VGG16 weights need the full-width backbone (64/128/256/512/512 channels, "
        "fcn8s.width_divisor 1); this network has ",
        absl::StrJoin(o.block_channels, "/"), " channels"));
  }
  if (o.batch_norm) {
    return absl::FailedPreconditionError(
        "ImageNet VGG16 weights (torchvision vgg16) have no BatchNorm; set fcn8s.batch_norm "
        "false to import them");
  }
  if (o.in_channels != 1) {
    return absl::FailedPreconditionError("the VGG16 import expects a single-channel network");
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<Vgg16Import> ImportVgg16StateDict(
    FCN8sImpl& net, const std::map<std::string, torch::Tensor>& state_dict,
    const std::string& source, const Vgg16ImportOptions& options) {
  if (absl::Status s = CheckImportable(net, options); !s.ok()) return s;
  const FCN8sOptions& o = net.options();
  if (state_dict.count("features.1.running_mean")) {
    return absl::InvalidArgumentError(
        absl::StrCat(source,
                     " looks like torchvision's vgg16_bn (BatchNorm statistics at features.1); "
                     "fringe imports vgg16 without BatchNorm"));
  }
  const bool classifier_fits =
      o.fc6_kernel == 7 &&
      (options.allow_reduced_width || (o.fc6_channels == 4096 && o.fc7_channels == 4096));
  const bool has_classifier =
      state_dict.count("classifier.0.weight") || state_dict.count("classifier.0.bias") ||
      state_dict.count("classifier.3.weight") || state_dict.count("classifier.3.bias");
  const bool import_classifier = classifier_fits && has_classifier;

  // Check every tensor before changing anything, so a bad file leaves the network untouched.
  std::map<std::string, torch::Tensor> tensors;
  for (const auto& [key, shape] : Vgg16ImportShapes(o)) {
    if (absl::StartsWith(key, "classifier.") && !import_classifier) continue;
    auto it = state_dict.find(key);
    if (it == state_dict.end()) {
      std::vector<std::string> some;
      for (const auto& [name, t] : state_dict) {
        if (some.size() == 6) {
          some.push_back("...");
          break;
        }
        some.push_back(name);
      }
      return absl::InvalidArgumentError(
          absl::StrCat(source, ": missing tensor ", key, " (torchvision vgg16 key); the file has ",
                       state_dict.size(), " tensors: ", absl::StrJoin(some, ", ")));
    }
    if (it->second.sizes().vec() != shape) {
      return absl::InvalidArgumentError(absl::StrCat(source, ": tensor ", key, " has shape ",
                                                     Shape(it->second.sizes().vec()),
                                                     " but this network needs ", Shape(shape)));
    }
    if (!it->second.is_floating_point()) {
      return absl::InvalidArgumentError(
          absl::StrCat(source, ": tensor ", key, " is not floating point"));
    }
    tensors[key] = it->second.to(torch::kCPU, torch::kFloat32);
  }

  torch::NoGradGuard no_grad;
  const auto device = net.convs[0]->conv->weight.device();
  for (int i = 0; i < 13; ++i) {
    const std::string key = absl::StrCat("features.", kFeatureIndex[i]);
    torch::Tensor weight = tensors.at(key + ".weight");
    if (i == 0) weight = weight.sum(1, /*keepdim=*/true);  // RGB -> one channel (header).
    net.convs[i]->conv->weight.copy_(weight.to(device));
    net.convs[i]->conv->bias.copy_(tensors.at(key + ".bias").to(device));
  }
  Vgg16Import report;
  report.convolutions = 13;
  if (import_classifier) {
    net.fc6->weight.copy_(
        tensors.at("classifier.0.weight").reshape(net.fc6->weight.sizes()).to(device));
    net.fc6->bias.copy_(tensors.at("classifier.0.bias").to(device));
    net.fc7->weight.copy_(
        tensors.at("classifier.3.weight").reshape(net.fc7->weight.sizes()).to(device));
    net.fc7->bias.copy_(tensors.at("classifier.3.bias").to(device));
    report.classifier = true;
    report.summary = absl::StrCat("imported ImageNet VGG16 from ", source,
                                  ": 13 convolutions (conv1_1 summed over RGB) and fc6/fc7 from "
                                  "classifier.0/classifier.3");
  } else if (!classifier_fits) {
    report.summary = absl::StrCat(
        "imported ImageNet VGG16 from ", source,
        ": the 13 convolutions only (conv1_1 summed "
        "over RGB); fc6/fc7 (",
        o.fc6_channels, "/", o.fc7_channels, " channels, ", o.fc6_kernel, "x", o.fc6_kernel,
        " kernel) do not match VGG16's classifier (4096/4096, 7x7) and keep "
        "their random initialisation");
  } else {
    report.summary = absl::StrCat(
        "imported ImageNet VGG16 from ", source,
        ": the 13 convolutions only (conv1_1 summed "
        "over RGB); the file has no classifier.* tensors, so fc6/fc7 keep their random "
        "initialisation");
  }
  return report;
}

absl::StatusOr<Vgg16Import> ImportVgg16Weights(FCN8sImpl& net, const std::string& path,
                                               const Vgg16ImportOptions& options) {
  // Refuse an unsuitable network before reading a file of half a gigabyte.
  if (absl::Status s = CheckImportable(net, options); !s.ok()) return s;
  try {
    auto state_dict = ReadTorchStateDict(path);
    if (!state_dict.ok()) return state_dict.status();
    return ImportVgg16StateDict(net, *state_dict, path, options);
  } catch (const c10::Error& e) {
    return absl::InvalidArgumentError(absl::StrCat("cannot import VGG16 weights from ", path, ": ",
                                                   FirstLine(e.what_without_backtrace())));
  }
}

}  // namespace fringe
