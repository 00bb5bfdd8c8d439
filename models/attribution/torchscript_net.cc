#include "models/attribution/torchscript_net.h"

#include <algorithm>
#include <filesystem>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace fringe::attribution {

absl::StatusOr<std::unique_ptr<TorchScriptNet>> TorchScriptNet::Load(const std::string& path,
                                                                     int input_multiple) {
  if (input_multiple < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("input_multiple is ", input_multiple, "; expected >= 1"));
  }
  std::error_code error;
  if (!std::filesystem::is_regular_file(path, error)) {
    return absl::NotFoundError(absl::StrCat("TorchScript file ", path, " does not exist"));
  }
  std::unique_ptr<TorchScriptNet> net;
  try {
    torch::jit::Module module = torch::jit::load(path, torch::kCPU);
    module.eval();
    // Only the input needs gradients; the weights' would cost memory and time for nothing.
    for (torch::Tensor p : module.parameters()) p.set_requires_grad(false);
    net.reset(new TorchScriptNet(std::move(module), input_multiple));
  } catch (const c10::Error& e) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot load TorchScript model ", path, ": ", e.what_without_backtrace()));
  } catch (const std::exception& e) {
    // jit::load reports some archive problems as plain std::exceptions.
    return absl::InvalidArgumentError(
        absl::StrCat("cannot load TorchScript model ", path, ": ", e.what()));
  }
  const int64_t side =
      ((std::max(64, input_multiple) + input_multiple - 1) / input_multiple) * input_multiple;
  try {
    torch::NoGradGuard no_grad;
    const torch::Tensor logits = net->Logits(torch::zeros({1, 1, side, side}), nullptr);
    net->num_classes_ = static_cast<int>(logits.size(1));
  } catch (const c10::Error& e) {
    return absl::InvalidArgumentError(absl::StrCat(
        "TorchScript model ", path, " must map N x 1 x H x W to N x C x H x W logits; ",
        "on a 1 x 1 x ", side, " x ", side, " input: ", e.what_without_backtrace()));
  }
  return net;
}

torch::Tensor TorchScriptNet::Logits(const torch::Tensor& x,
                                     const ActivationObserver& /*observer*/) const {
  const torch::IValue out = module_.forward({x});
  TORCH_CHECK(out.isTensor(), "the model returned ", out.tagKind(), ", not a tensor");
  torch::Tensor logits = out.toTensor();
  TORCH_CHECK(logits.dim() == 4 && logits.size(0) == x.size(0) && logits.size(1) >= 1 &&
                  logits.size(2) == x.size(2) && logits.size(3) == x.size(3),
              "the model returned a tensor of shape ", logits.sizes(), " for input ", x.sizes());
  if (logits.scalar_type() != torch::kFloat32) logits = logits.to(torch::kFloat32);
  return logits;
}

}  // namespace fringe::attribution
