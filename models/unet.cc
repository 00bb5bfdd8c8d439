#include "models/unet.h"

namespace fringe {

namespace nn = torch::nn;

ConvBnReluImpl::ConvBnReluImpl(int in, int out, int dilation, bool batch_norm) {
  // padding = dilation keeps the spatial size for a 3x3 kernel at any dilation.
  conv = register_module(
      "conv", nn::Conv2d(nn::Conv2dOptions(in, out, 3).padding(dilation).dilation(dilation)));
  if (batch_norm) bn = register_module("bn", nn::BatchNorm2d(out));
}

torch::Tensor ConvBnReluImpl::forward(const torch::Tensor& x) {
  torch::Tensor y = conv->forward(x);
  if (bn && !folded_) y = bn->forward(y);
  return torch::relu(y);
}

void ConvBnReluImpl::FoldBatchNorm() {
  if (!bn || folded_) return;
  torch::NoGradGuard no_grad;
  // y = gamma * (conv(x) - mean) / sqrt(var + eps) + beta  ==  conv'(x) with
  // w' = w * s, b' = (b - mean) * s + beta, s = gamma / sqrt(var + eps) per output channel.
  const torch::Tensor scale = bn->weight / torch::sqrt(bn->running_var + bn->options.eps());
  conv->weight.mul_(scale.reshape({-1, 1, 1, 1}));
  conv->bias.copy_((conv->bias - bn->running_mean) * scale + bn->bias);
  folded_ = true;
}

UNetBlockImpl::UNetBlockImpl(int in, int out, int dilation, bool batch_norm, double dropout) {
  first = register_module("first", ConvBnRelu(in, out, dilation, batch_norm));
  second = register_module("second", ConvBnRelu(out, out, dilation, batch_norm));
  if (dropout > 0) drop = register_module("drop", nn::Dropout2d(dropout));
}

torch::Tensor UNetBlockImpl::forward(const torch::Tensor& x) {
  torch::Tensor y = second->forward(first->forward(x));
  if (drop) y = drop->forward(y);
  return y;
}

void UNetBlockImpl::FoldBatchNorm() {
  first->FoldBatchNorm();
  second->FoldBatchNorm();
}

UNetImpl::UNetImpl(const UNetOptions& options) : options_(options) {
  auto dilation_at = [&](int level) {
    return options_.dilation.empty() ? 1 : options_.dilation.at(level);
  };
  down = register_module("down", nn::ModuleList());
  up = register_module("up", nn::ModuleList());
  up_blocks = register_module("up_blocks", nn::ModuleList());
  int in = options_.in_channels;
  for (int level = 0; level < options_.depth; ++level) {
    const int out = options_.base_filters << level;
    down->push_back(UNetBlock(in, out, dilation_at(level), options_.batch_norm, options_.dropout));
    in = out;
  }
  const int bottom = options_.base_filters << options_.depth;
  bottleneck = register_module("bottleneck", UNetBlock(in, bottom, dilation_at(options_.depth),
                                                       options_.batch_norm, options_.dropout));
  in = bottom;
  for (int level = options_.depth - 1; level >= 0; --level) {
    const int out = options_.base_filters << level;
    up->push_back(nn::ConvTranspose2d(nn::ConvTranspose2dOptions(in, out, 2).stride(2)));
    // Input is the up-sampled features concatenated with the skip connection.
    up_blocks->push_back(
        UNetBlock(2 * out, out, dilation_at(level), options_.batch_norm, options_.dropout));
    in = out;
  }
  head = register_module("head", nn::Conv2d(nn::Conv2dOptions(in, options_.num_classes, 1)));
}

torch::Tensor UNetImpl::forward(torch::Tensor x) {
  std::vector<torch::Tensor> skips;
  skips.reserve(options_.depth);
  for (const auto& block : *down) {
    x = block->as<UNetBlock>()->forward(x);
    skips.push_back(x);
    x = torch::max_pool2d(x, 2);
  }
  x = bottleneck->forward(x);
  for (int i = 0; i < options_.depth; ++i) {
    x = up[i]->as<nn::ConvTranspose2d>()->forward(x);
    x = torch::cat({x, skips[options_.depth - 1 - i]}, 1);
    x = up_blocks[i]->as<UNetBlock>()->forward(x);
  }
  return head->forward(x);
}

void UNetImpl::FoldBatchNorm() {
  for (const auto& block : *down) block->as<UNetBlock>()->FoldBatchNorm();
  bottleneck->FoldBatchNorm();
  for (const auto& block : *up_blocks) block->as<UNetBlock>()->FoldBatchNorm();
}

}  // namespace fringe
