#include "models/unet_onednn.h"

#include <stdexcept>

namespace fringe {

bool UNetOneDnnPlan::Available() { return at::hasMKLDNN(); }

UNetOneDnnPlan::Conv UNetOneDnnPlan::MakeConv(const torch::Tensor& weight,
                                              const torch::Tensor& bias, int64_t padding,
                                              int64_t dilation) {
  Conv conv;
  conv.padding = padding;
  conv.dilation = dilation;
  conv.weight = torch::mkldnn_reorder_conv2d_weight(
      weight.contiguous().to_mkldnn(), {padding, padding}, {1, 1}, {dilation, dilation}, 1);
  if (bias.defined()) conv.bias = bias.contiguous();
  return conv;
}

namespace {
// In-place ReLU on a fresh result.
torch::Tensor Relu(torch::Tensor x) {
  x.relu_();
  return x;
}
}  // namespace

torch::Tensor UNetOneDnnPlan::Run(const Conv& conv, const torch::Tensor& x) {
  return torch::mkldnn_convolution(x, conv.weight, conv.bias, {conv.padding, conv.padding}, {1, 1},
                                   {conv.dilation, conv.dilation}, 1);
}

UNetOneDnnPlan::UNetOneDnnPlan(UNet& net) {
  torch::NoGradGuard no_grad;
  auto conv_of = [](const ConvBnRelu& layer) {
    if (layer->bn && !layer->folded()) {
      throw std::logic_error("UNetOneDnnPlan needs BatchNorm folded first");
    }
    const auto& o = layer->conv->options;
    const int64_t dilation = (*o.dilation())[0];
    // ConvBnRelu always pads by the dilation (size-preserving 3x3).
    return MakeConv(layer->conv->weight, layer->conv->bias, dilation, dilation);
  };
  for (const auto& m : *net->down) {
    auto block = m->as<UNetBlock>();
    down_.emplace_back(conv_of(block->first), conv_of(block->second));
  }
  bottleneck_ = {conv_of(net->bottleneck->first), conv_of(net->bottleneck->second)};
  for (size_t i = 0; i < net->up->size(); ++i) {
    auto* up = net->up[i]->as<torch::nn::ConvTranspose2d>();
    auto block = net->up_blocks[i]->as<UNetBlock>();
    UpLevel level;
    // ConvTranspose2d weight is [in, out, 2, 2]: y[o, 2i+a, 2j+b] = sum_c x[c,i,j] W[c,o,a,b].
    // A 1x1 conv with weight[(o*4 + a*2 + b), c] = W[c, o, a, b] followed by pixel_shuffle(2)
    // puts channel o*4 + a*2 + b at (o, 2i+a, 2j+b): the same map.
    const torch::Tensor w = up->weight;  // [in, out, 2, 2]
    const int64_t in = w.size(0), out = w.size(1);
    const torch::Tensor w1x1 = w.permute({1, 2, 3, 0}).reshape({out * 4, in, 1, 1});
    const torch::Tensor b1x1 = up->bias.defined() ? up->bias.repeat_interleave(4) : torch::Tensor();
    level.upsample = MakeConv(w1x1, b1x1, 0, 1);
    // The block's first conv sees cat(up, skip): split its weight along input channels.
    const auto& first = block->first;
    if (first->bn && !first->folded()) throw std::logic_error("BatchNorm not folded");
    const int64_t dilation = (*first->conv->options.dilation())[0];
    const torch::Tensor fw = first->conv->weight;
    level.first_up = MakeConv(fw.slice(1, 0, out), first->conv->bias, dilation, dilation);
    level.first_skip = MakeConv(fw.slice(1, out, 2 * out), torch::Tensor(), dilation, dilation);
    level.second = conv_of(block->second);
    up_.push_back(std::move(level));
  }
  head_ = MakeConv(net->head->weight, net->head->bias, 0, 1);
}

torch::Tensor UNetOneDnnPlan::Forward(const torch::Tensor& input) const {
  torch::Tensor x = input.contiguous().to_mkldnn();
  std::vector<torch::Tensor> skips;
  skips.reserve(down_.size());
  for (const auto& [first, second] : down_) {
    x = Relu(Run(first, x));
    x = Relu(Run(second, x));
    skips.push_back(x);
    x = torch::max_pool2d(x, 2);
  }
  x = Relu(Run(bottleneck_.first, x));
  x = Relu(Run(bottleneck_.second, x));
  for (size_t i = 0; i < up_.size(); ++i) {
    const UpLevel& level = up_[i];
    // Pixel shuffle has no oneDNN kernel: take a dense round trip for it.
    torch::Tensor up = torch::pixel_shuffle(Run(level.upsample, x).to_dense(), 2).to_mkldnn();
    const torch::Tensor& skip = skips[skips.size() - 1 - i];
    x = Relu(torch::add(Run(level.first_up, up), Run(level.first_skip, skip)));
    x = Relu(Run(level.second, x));
  }
  return Run(head_, x).to_dense();
}

}  // namespace fringe
