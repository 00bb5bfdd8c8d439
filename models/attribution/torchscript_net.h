// A user's TorchScript segmentation model (torch.jit.script / torch.jit.trace, saved with
// .save()) as a DifferentiableNet: the gradient methods and occlusion treat the network as a
// function, so they work on it; LRP needs the layer structure, which a TorchScript graph does
// not expose in a form we can canonise, so Explainer refuses LRP on it. Internal: includes
// torch.
#ifndef FRINGE_MODELS_ATTRIBUTION_TORCHSCRIPT_NET_H_
#define FRINGE_MODELS_ATTRIBUTION_TORCHSCRIPT_NET_H_

#include <torch/script.h>
#include <torch/torch.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "models/attribution/canonical_unet.h"

namespace fringe::attribution {

class TorchScriptNet : public DifferentiableNet {
 public:
  // Loads `path` (torch::jit::load, CPU), puts it in eval mode, freezes its parameters and
  // probes it with one zero input (a square of side max(64, input_multiple) rounded up to a
  // multiple of it): the model must map N x 1 x H x W to N x C x H x W logits (a tensor, C >= 1).
  // NOT_FOUND for a missing file; INVALID_ARGUMENT for one torch cannot load or a model whose
  // output is not of that form.
  static absl::StatusOr<std::unique_ptr<TorchScriptNet>> Load(const std::string& path,
                                                              int input_multiple);

  // Rejects (c10::Error, caught at the Explainer boundary) an output that is not a tensor
  // shaped N x C x H x W like the input.
  torch::Tensor Logits(const torch::Tensor& x, const ActivationObserver& observer) const override;
  std::vector<std::string> ActivationNames() const override { return {}; }
  std::string DefaultCamLayer() const override { return ""; }
  int num_classes() const override { return num_classes_; }
  int input_multiple() const override { return input_multiple_; }

 private:
  TorchScriptNet(torch::jit::Module module, int input_multiple)
      : module_(std::move(module)), input_multiple_(input_multiple) {}

  // forward() is not const in the API; a loaded graph is safe to run from several threads.
  mutable torch::jit::Module module_;
  int input_multiple_ = 1;
  int num_classes_ = 0;
};

}  // namespace fringe::attribution

#endif  // FRINGE_MODELS_ATTRIBUTION_TORCHSCRIPT_NET_H_
