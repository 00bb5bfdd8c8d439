// U-Net in the LibTorch C++ frontend. Includes torch: only torch translation units include it.
#ifndef FRINGE_MODELS_UNET_H_
#define FRINGE_MODELS_UNET_H_

#include <torch/torch.h>

#include <vector>

namespace fringe {

struct UNetOptions {
  int in_channels = 1;
  int num_classes = 2;
  int depth = 4;              // 2x down-sampling steps.
  int base_filters = 16;      // Doubled at every level.
  std::vector<int> dilation;  // depth + 1 entries (levels then bottleneck), or empty = all 1.
  bool batch_norm = true;
  double dropout = 0.0;
};

// 3x3 convolution (+ BatchNorm) + ReLU. BatchNorm can be folded into the convolution for
// serving, after which forward() skips it (DESIGN §7: the fast path has no BN layers).
class ConvBnReluImpl : public torch::nn::Module {
 public:
  ConvBnReluImpl(int in, int out, int dilation, bool batch_norm);
  torch::Tensor forward(const torch::Tensor& x);
  // Folds eval-mode BatchNorm statistics into the convolution's weight and bias.
  void FoldBatchNorm();
  bool folded() const { return folded_; }

  torch::nn::Conv2d conv{nullptr};
  torch::nn::BatchNorm2d bn{nullptr};

 private:
  bool folded_ = false;
};
TORCH_MODULE(ConvBnRelu);

// Two ConvBnRelu layers and optional dropout.
class UNetBlockImpl : public torch::nn::Module {
 public:
  UNetBlockImpl(int in, int out, int dilation, bool batch_norm, double dropout);
  torch::Tensor forward(const torch::Tensor& x);
  void FoldBatchNorm();

  ConvBnRelu first{nullptr}, second{nullptr};
  torch::nn::Dropout2d drop{nullptr};
};
TORCH_MODULE(UNetBlock);

// Encoder/decoder with skip concatenations; forward() returns class logits N x C x H x W for
// N x in_channels x H x W input whose sides are multiples of 2^depth.
class UNetImpl : public torch::nn::Module {
 public:
  explicit UNetImpl(const UNetOptions& options);
  torch::Tensor forward(torch::Tensor x);
  // Folds every BatchNorm (requires eval mode semantics: running statistics are used).
  void FoldBatchNorm();
  const UNetOptions& options() const { return options_; }

  torch::nn::ModuleList down{nullptr};  // UNetBlock per level.
  UNetBlock bottleneck{nullptr};
  torch::nn::ModuleList up{nullptr};         // ConvTranspose2d per level (bottom to top).
  torch::nn::ModuleList up_blocks{nullptr};  // UNetBlock per level (bottom to top).
  torch::nn::Conv2d head{nullptr};

 private:
  UNetOptions options_;
};
TORCH_MODULE(UNet);

}  // namespace fringe

#endif  // FRINGE_MODELS_UNET_H_
