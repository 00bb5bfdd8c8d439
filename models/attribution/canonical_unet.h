// The canonical form of a U-Net that every attribution method works on: BatchNorm folded into
// the convolutions ("canonised"; Montavon et al. 2018), dropout dropped (identity in eval),
// the weights held as plain tensors, and a functional forward pass that can record what LRP
// needs (each linear layer's input and pre-activation, the max-pool winners) or hand any
// named activation to an observer (Grad-CAM). Internal to models/attribution: includes torch.
#ifndef FRINGE_MODELS_ATTRIBUTION_CANONICAL_UNET_H_
#define FRINGE_MODELS_ATTRIBUTION_CANONICAL_UNET_H_

#include <torch/torch.h>

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "models/unet.h"

namespace fringe::attribution {

// One linear layer (a convolution with bias) of the canonised U-Net.
struct LinearLayer {
  enum class Kind {
    kConv,        // Stride-1 convolution, k x k, padding = dilation * (k - 1) / 2.
    kTransposed,  // k x k / stride-s transposed convolution, no padding (the U-Net's 2x2/2
                  // up-sampling, FCN8s's fixed bilinear 4x4/2 and 16x16/8).
  };
  std::string name;   // Module path: "down.0.first", "bottleneck.second", "up.1", "head".
  std::string group;  // Composite position: "first", "encoder", "upsample", "decoder", "head".
  Kind kind = Kind::kConv;
  torch::Tensor weight;  // kConv: [out, in, k, k]; kTransposed: [in, out, 2, 2].
  torch::Tensor bias;    // [out].
  int64_t padding = 0;
  int64_t dilation = 1;
  int64_t stride = 2;             // kTransposed only.
  bool relu = true;               // Followed by a ReLU (all but the transposed convs and head).
  bool nonnegative_input = true;  // Its input is >= 0 (post-ReLU); false for the first layer
                                  // and for the decoder convs that read cat(up, skip).

  int64_t in_channels() const;
  int64_t out_channels() const;
  // The layer's linear map with weights `w` (the shape of `weight`) and no bias.
  torch::Tensor Apply(const torch::Tensor& x, const torch::Tensor& w) const;
  // Weights in the layout ApplyAdjoint expects: for a stride-1 convolution the adjoint is a
  // convolution with the kernel flipped and in/out swapped (padding d(k-1) - p), so it runs
  // on the same fast forward-convolution path; for the transposed convolution it is the
  // stride-s convolution with the same weights.
  torch::Tensor AdjointWeight(const torch::Tensor& w) const;
  // The adjoint (transpose) of Apply: <Apply(x, w), s> == <x, ApplyAdjoint(s, AdjointWeight(w))>.
  torch::Tensor ApplyAdjoint(const torch::Tensor& s, const torch::Tensor& adjoint_w) const;
};

// Weight and bias of a ConvBnRelu with its BatchNorm (eval statistics) folded in; copies, the
// module keeps its own.
std::pair<torch::Tensor, torch::Tensor> FoldedConv(ConvBnRelu& layer);

// Everything the LRP backward pass reads, recorded by CanonicalUNet::Forward.
struct ForwardTrace {
  std::vector<torch::Tensor> inputs;           // Per layer (forward order): its input.
  std::vector<torch::Tensor> pre_activations;  // Per layer: output before ReLU, with bias.
  std::vector<torch::Tensor> pool_indices;     // Per level: max_pool2d winners (flat H*W).
  std::vector<std::vector<int64_t>> pool_input_sizes;
};

// Runs one layer: its convolution or transposed convolution, then its ReLU if it has one;
// records the layer's input and pre-activation at `index` of `trace` when given. Shared by
// the canonical U-Net and FCN8s.
torch::Tensor RunLinearLayer(const LinearLayer& layer, int index, const torch::Tensor& x,
                             ForwardTrace* trace);

// Receives every named activation of a forward pass: each layer's output after its ReLU
// ("down.0.first", "up.1", "head" = logits) and each block's output ("down.0", "bottleneck",
// "up_blocks.1").
using ActivationObserver = std::function<void(const std::string&, const torch::Tensor&)>;

// What the function-style attribution methods (gradient_methods.h) need from a network: a
// differentiable forward pass to logits that can show named activations to an observer. The
// canonical U-Net and FCN8s implement it, and so does a user's TorchScript model.
class DifferentiableNet {
 public:
  virtual ~DifferentiableNet() = default;
  // Logits N x C x H x W for N x in_channels x H x W input; differentiable with respect to
  // `x`. `observer` may be null.
  virtual torch::Tensor Logits(const torch::Tensor& x,
                               const ActivationObserver& observer) const = 0;
  // Names the observer sees, in forward order (empty when the network is opaque).
  virtual std::vector<std::string> ActivationNames() const = 0;
  // Grad-CAM's default layer ("" when there is none).
  virtual std::string DefaultCamLayer() const = 0;
  virtual int num_classes() const = 0;
  virtual int input_multiple() const = 0;
};

class CanonicalUNet : public DifferentiableNet {
 public:
  // Copies the module's weights and folds BatchNorm (eval statistics) into them; `net` is
  // not modified and may be folded already.
  explicit CanonicalUNet(UNet& net);

  // Logits N x C x H x W for N x in_channels x H x W input (sides multiples of 2^depth).
  // Differentiable with respect to `x` (the weights do not require gradients).
  torch::Tensor Forward(const torch::Tensor& x, ForwardTrace* trace = nullptr,
                        const ActivationObserver& observer = nullptr) const;

  torch::Tensor Logits(const torch::Tensor& x, const ActivationObserver& observer) const override {
    return Forward(x, nullptr, observer);
  }

  const std::vector<LinearLayer>& layers() const { return layers_; }
  int depth() const { return depth_; }
  int num_classes() const override { return static_cast<int>(layers_.back().out_channels()); }
  int input_multiple() const override { return 1 << depth_; }
  std::string DefaultCamLayer() const override { return "bottleneck"; }
  // Indices into layers() (forward order).
  int DownFirst(int level) const { return 2 * level; }
  int DownSecond(int level) const { return 2 * level + 1; }
  int BottleneckFirst() const { return 2 * depth_; }
  int BottleneckSecond() const { return 2 * depth_ + 1; }
  int Up(int i) const { return 2 * depth_ + 2 + 3 * i; }  // i = 0 is the lowest level.
  int UpFirst(int i) const { return Up(i) + 1; }
  int UpSecond(int i) const { return Up(i) + 2; }
  int Head() const { return 5 * depth_ + 2; }
  // Names Forward's observer sees, in forward order.
  std::vector<std::string> ActivationNames() const override;

 private:
  torch::Tensor Run(int index, const torch::Tensor& x, ForwardTrace* trace,
                    const ActivationObserver& observer) const;

  std::vector<LinearLayer> layers_;
  int depth_ = 0;
};

// The scalar target T of attribution.h in tensor form: T(x) = sum over pixels of
// region * sum_k class_weights[k] * logits_k.
struct TargetSpec {
  torch::Tensor class_weights;  // [C] float.
  torch::Tensor region;         // [1, 1, H, W] float, 0 or 1.

  // region * sum_k w_k logits_k: N x 1 x H x W.
  torch::Tensor Map(const torch::Tensor& logits) const;
  // Per-sample T: [N].
  torch::Tensor Values(const torch::Tensor& logits) const;
};

}  // namespace fringe::attribution

#endif  // FRINGE_MODELS_ATTRIBUTION_CANONICAL_UNET_H_
