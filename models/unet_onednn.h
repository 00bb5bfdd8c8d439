// A U-Net inference plan on oneDNN (MKL-DNN) blocked tensors, built once per loaded model.
// The eager module keeps every activation in plain NCHW, where small-channel convolutions run
// at a fraction of what oneDNN reaches on its own blocked layouts (shared/DESIGN.md §7), and
// converts on every call. This plan:
//  - reorders every convolution weight once, with BatchNorm already folded in;
//  - keeps activations in oneDNN layout end to end, with ReLU applied in place;
//  - replaces cat(up, skip) -> conv by conv(up, W_up) + conv(skip, W_skip), which is the
//    same sum without a concatenation (oneDNN tensors cannot be concatenated here);
//  - runs each 2x2/stride-2 transposed convolution as a 1x1 convolution to 4x the channels
//    followed by a pixel shuffle, the same linear map.
// Torch translation units only.
#ifndef FRINGE_MODELS_UNET_ONEDNN_H_
#define FRINGE_MODELS_UNET_ONEDNN_H_

#include <torch/torch.h>

#include <vector>

#include "models/unet.h"

namespace fringe {

class UNetOneDnnPlan {
 public:
  // True when this LibTorch build can run the plan (CPU with MKL-DNN).
  static bool Available();

  // Builds the plan from an eval-mode U-Net whose BatchNorm has been folded.
  explicit UNetOneDnnPlan(UNet& net);

  // Logits N x C x H x W (plain dense tensor) for a dense N x 1 x H x W input.
  torch::Tensor Forward(const torch::Tensor& input) const;

 private:
  struct Conv {
    torch::Tensor weight;  // oneDNN-reordered.
    torch::Tensor bias;    // Dense, may be undefined.
    int64_t padding = 0;
    int64_t dilation = 1;
  };
  struct UpLevel {
    Conv upsample;    // 1x1 conv to 4 * out channels (then pixel shuffle).
    Conv first_up;    // First conv of the block, on the up-sampled half of the input.
    Conv first_skip;  // ... and on the skip half (bias-free: the bias is in first_up).
    Conv second;
  };

  static Conv MakeConv(const torch::Tensor& weight, const torch::Tensor& bias, int64_t padding,
                       int64_t dilation);
  static torch::Tensor Run(const Conv& conv, const torch::Tensor& x);

  std::vector<std::pair<Conv, Conv>> down_;  // Two convs per level.
  std::pair<Conv, Conv> bottleneck_;
  std::vector<UpLevel> up_;
  Conv head_;
};

}  // namespace fringe

#endif  // FRINGE_MODELS_UNET_ONEDNN_H_
