// FCN8s from its config, and ImageNet initialisation of its VGG16 backbone from a torchvision
// `vgg16` state dict that the user supplies. Includes torch: only torch translation units
// include it.
//
// File format. torchvision saves `torch.save(model.state_dict())`: an OrderedDict pickled into
// a zip archive (older downloads such as vgg16-397923af.pth are even in the pre-1.6 non-zip
// format). LibTorch's C++ unpickler (torch::pickle_load, Debian's libtorch 1.13) reads the zip
// format and plain dicts of tensors, but turns `collections.OrderedDict` into None (it only
// expects one as a tensor's empty backward-hook list) and then fails with "Expected GenericDict
// but got None"; torch::load reads neither. So the user converts once, in Python, to a plain
// dict in the zip format:
//
//   python3 -c "import torch, torchvision;
//   torch.save(dict(torchvision.models.vgg16(weights='IMAGENET1K_V1').state_dict()),
//   'vgg16_imagenet.pt', _use_new_zipfile_serialization=True)"
//
// (or, from a downloaded file: torch.save(dict(torch.load('vgg16-397923af.pth',
// map_location='cpu')), 'vgg16_imagenet.pt')). A TorchScript archive whose parameters carry
// torchvision's names (torch.jit.save(torch.jit.script(model), f)) is read too.
//
// Single channel. conv1_1's ImageNet filters are summed over R, G and B. That equals feeding
// the standardised HRTEM image as three identical channels: ImageNet inputs are normalised per
// channel to about zero mean and unit variance, which is what fringe's per-image
// standardisation gives, so conv1_1's responses keep the scale the pretrained network saw
// (averaging the filters instead would shrink them 3x). Biases are kept as they are.
#ifndef FRINGE_MODELS_FCN8S_IO_H_
#define FRINGE_MODELS_FCN8S_IO_H_

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "fringe/v1/model_config.pb.h"
#include "models/fcn8s.h"
#include "models/torch_models.h"  // kVgg16ConvertCommand

namespace fringe {

// The module options a config's `fcn8s` section and class list describe.
FCN8sOptions FCN8sOptionsFromConfig(const v1::ModelConfig& config);

// Reads a dict of named tensors saved by Python's torch.save (zip format, a plain dict) or a
// TorchScript archive (its parameters and buffers). NOT_FOUND for a missing file;
// INVALID_ARGUMENT saying why and how to convert for anything else.
absl::StatusOr<std::map<std::string, torch::Tensor>> ReadTorchStateDict(const std::string& path);

// torchvision's vgg16 state-dict keys that the import reads, with the shapes it expects for a
// network of `options` (features.N.weight/bias for the 13 convolutions; classifier.0 and
// classifier.3 for fc6/fc7 when fc6 is 7x7). At full width with 4096-channel fc6/fc7 these
// are exactly torchvision's shapes.
std::vector<std::pair<std::string, std::vector<int64_t>>> Vgg16ImportShapes(
    const FCN8sOptions& options);

struct Vgg16ImportOptions {
  // Tests only: accept a reduced-width network and a state dict of its reduced shapes.
  bool allow_reduced_width = false;
};

struct Vgg16Import {
  int convolutions = 0;     // Of 13.
  bool classifier = false;  // fc6/fc7 from classifier.0/classifier.3.
  std::string summary;      // One sentence for logs and provenance.
};

// Copies ImageNet VGG16 weights into `net`'s backbone: the 13 convolutions always (conv1_1
// summed over RGB), fc6/fc7 from the classifier's first two linear layers reshaped into 7x7
// and 1x1 convolutions when fc6/fc7 have 4096 channels and fc6 a 7x7 kernel (otherwise they
// keep their initialisation and the summary says so); classifier.6 (ImageNet's 1000 classes)
// is never used. FAILED_PRECONDITION for a network that is not full width or has BatchNorm;
// INVALID_ARGUMENT naming the key for a missing tensor or, with both shapes, a wrong shape.
absl::StatusOr<Vgg16Import> ImportVgg16Weights(FCN8sImpl& net, const std::string& path,
                                               const Vgg16ImportOptions& options = {});
absl::StatusOr<Vgg16Import> ImportVgg16StateDict(
    FCN8sImpl& net, const std::map<std::string, torch::Tensor>& state_dict,
    const std::string& source, const Vgg16ImportOptions& options = {});

}  // namespace fringe

#endif  // FRINGE_MODELS_FCN8S_IO_H_
