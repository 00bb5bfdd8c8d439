#include "models/attribution/canonical_unet.h"

#include <tuple>
#include <utility>

namespace fringe::attribution {

namespace nn = torch::nn;

// y = gamma * (conv(x) - mean) / sqrt(var + eps) + beta is conv'(x) with
// w' = w * s, b' = (b - mean) * s + beta, s = gamma / sqrt(var + eps) per output channel.
std::pair<torch::Tensor, torch::Tensor> FoldedConv(ConvBnRelu& layer) {
  torch::Tensor w = layer->conv->weight.detach().clone();
  torch::Tensor b = layer->conv->bias.detach().clone();
  if (layer->bn && !layer->folded()) {
    const auto& bn = layer->bn;
    const torch::Tensor scale =
        bn->weight.detach() / torch::sqrt(bn->running_var + bn->options.eps());
    w.mul_(scale.reshape({-1, 1, 1, 1}));
    b = (b - bn->running_mean) * scale + bn->bias.detach();
  }
  return {w.contiguous(), b.contiguous()};
}

int64_t LinearLayer::in_channels() const {
  return kind == Kind::kConv ? weight.size(1) : weight.size(0);
}

int64_t LinearLayer::out_channels() const {
  return kind == Kind::kConv ? weight.size(0) : weight.size(1);
}

torch::Tensor LinearLayer::Apply(const torch::Tensor& x, const torch::Tensor& w) const {
  if (kind == Kind::kConv) return torch::conv2d(x, w, {}, 1, padding, dilation);
  return torch::conv_transpose2d(x, w, {}, stride);
}

torch::Tensor LinearLayer::AdjointWeight(const torch::Tensor& w) const {
  if (kind == Kind::kConv) return w.flip({2, 3}).transpose(0, 1).contiguous();
  return w.contiguous();
}

torch::Tensor LinearLayer::ApplyAdjoint(const torch::Tensor& s,
                                        const torch::Tensor& adjoint_w) const {
  if (kind == Kind::kConv) {
    // Transpose of a stride-1 convolution with padding p: a full correlation with the flipped
    // kernel, i.e. padding d(k-1) - p (= p for the "same" convolutions of the U-Net).
    const int64_t pad = dilation * (weight.size(2) - 1) - padding;
    return torch::conv2d(s, adjoint_w, {}, 1, pad, dilation);
  }
  // conv_transpose2d is by definition the adjoint of conv2d with the same weights and stride
  // (overlapping windows or not, e.g. FCN8s's 4x4/2), so the adjoint is the strided
  // convolution; without padding its output is exactly the transposed convolution's input.
  return torch::conv2d(s, adjoint_w, {}, stride);
}

CanonicalUNet::CanonicalUNet(UNet& net) : depth_(net->options().depth) {
  torch::NoGradGuard no_grad;
  const UNetOptions& options = net->options();
  auto dilation_at = [&](int level) -> int64_t {
    return options.dilation.empty() ? 1 : options.dilation.at(level);
  };
  auto add_block = [&](UNetBlock& block, const std::string& prefix, int level, bool is_first,
                       const std::string& group, bool first_input_nonnegative) {
    int index = 0;
    for (ConvBnRelu* conv : {&block->first, &block->second}) {
      LinearLayer layer;
      layer.name = prefix + (index == 0 ? ".first" : ".second");
      layer.group = (is_first && index == 0) ? "first" : group;
      std::tie(layer.weight, layer.bias) = FoldedConv(*conv);
      layer.dilation = dilation_at(level);
      layer.padding = layer.dilation * (layer.weight.size(2) - 1) / 2;
      layer.nonnegative_input = index == 1 || first_input_nonnegative;
      layers_.push_back(std::move(layer));
      ++index;
    }
  };
  for (int level = 0; level < depth_; ++level) {
    UNetBlock down_block(net->down->ptr<UNetBlockImpl>(level));
    add_block(down_block, "down." + std::to_string(level), level, level == 0, "encoder",
              /*first_input_nonnegative=*/level > 0);
  }
  add_block(net->bottleneck, "bottleneck", depth_, false, "encoder", true);
  for (int i = 0; i < depth_; ++i) {
    const int level = depth_ - 1 - i;
    auto up = net->up->ptr<nn::ConvTranspose2dImpl>(i);
    LinearLayer layer;
    layer.name = "up." + std::to_string(i);
    layer.group = "upsample";
    layer.kind = LinearLayer::Kind::kTransposed;
    layer.weight = up->weight.detach().clone().contiguous();
    layer.bias = up->bias.detach().clone().contiguous();
    layer.relu = false;
    layers_.push_back(std::move(layer));
    UNetBlock up_block(net->up_blocks->ptr<UNetBlockImpl>(i));
    // The first decoder conv reads cat(up, skip); `up` has no ReLU, so its input is signed.
    add_block(up_block, "up_blocks." + std::to_string(i), level, false, "decoder", false);
  }
  LinearLayer head;
  head.name = "head";
  head.group = "head";
  head.weight = net->head->weight.detach().clone().contiguous();
  head.bias = net->head->bias.detach().clone().contiguous();
  head.relu = false;
  layers_.push_back(std::move(head));
}

std::vector<std::string> CanonicalUNet::ActivationNames() const {
  std::vector<std::string> names;
  for (int level = 0; level < depth_; ++level) {
    names.push_back(layers_[DownFirst(level)].name);
    names.push_back(layers_[DownSecond(level)].name);
    names.push_back("down." + std::to_string(level));
  }
  names.push_back(layers_[BottleneckFirst()].name);
  names.push_back(layers_[BottleneckSecond()].name);
  names.push_back("bottleneck");
  for (int i = 0; i < depth_; ++i) {
    names.push_back(layers_[Up(i)].name);
    names.push_back(layers_[UpFirst(i)].name);
    names.push_back(layers_[UpSecond(i)].name);
    names.push_back("up_blocks." + std::to_string(i));
  }
  names.push_back("head");
  return names;
}

torch::Tensor RunLinearLayer(const LinearLayer& layer, int index, const torch::Tensor& x,
                             ForwardTrace* trace) {
  const torch::Tensor z =
      layer.kind == LinearLayer::Kind::kConv
          ? torch::conv2d(x, layer.weight, layer.bias, 1, layer.padding, layer.dilation)
          : torch::conv_transpose2d(x, layer.weight, layer.bias, layer.stride);
  if (trace != nullptr) {
    trace->inputs[index] = x;
    trace->pre_activations[index] = z;
  }
  return layer.relu ? torch::relu(z) : z;
}

torch::Tensor CanonicalUNet::Run(int index, const torch::Tensor& x, ForwardTrace* trace,
                                 const ActivationObserver& observer) const {
  const LinearLayer& layer = layers_[index];
  torch::Tensor y = RunLinearLayer(layer, index, x, trace);
  if (observer && layer.name != "head") observer(layer.name, y);
  return y;
}

torch::Tensor CanonicalUNet::Forward(const torch::Tensor& input, ForwardTrace* trace,
                                     const ActivationObserver& observer) const {
  if (trace != nullptr) {
    trace->inputs.assign(layers_.size(), torch::Tensor());
    trace->pre_activations.assign(layers_.size(), torch::Tensor());
    trace->pool_indices.assign(depth_, torch::Tensor());
    trace->pool_input_sizes.assign(depth_, {});
  }
  std::vector<torch::Tensor> skips;
  skips.reserve(depth_);
  torch::Tensor x = input;
  for (int level = 0; level < depth_; ++level) {
    x = Run(DownFirst(level), x, trace, observer);
    x = Run(DownSecond(level), x, trace, observer);
    if (observer) observer("down." + std::to_string(level), x);
    skips.push_back(x);
    if (trace != nullptr) {
      auto [pooled, indices] = torch::max_pool2d_with_indices(x, 2, 2);
      trace->pool_indices[level] = indices;
      trace->pool_input_sizes[level] = x.sizes().vec();
      x = pooled;
    } else {
      x = torch::max_pool2d(x, 2, 2);
    }
  }
  x = Run(BottleneckFirst(), x, trace, observer);
  x = Run(BottleneckSecond(), x, trace, observer);
  if (observer) observer("bottleneck", x);
  for (int i = 0; i < depth_; ++i) {
    x = Run(Up(i), x, trace, observer);
    x = torch::cat({x, skips[depth_ - 1 - i]}, 1);
    x = Run(UpFirst(i), x, trace, observer);
    x = Run(UpSecond(i), x, trace, observer);
    if (observer) observer("up_blocks." + std::to_string(i), x);
  }
  torch::Tensor logits = Run(Head(), x, trace, observer);
  if (observer) observer("head", logits);
  return logits;
}

torch::Tensor TargetSpec::Map(const torch::Tensor& logits) const {
  const torch::Tensor g = (logits * class_weights.reshape({1, -1, 1, 1})).sum(1, /*keepdim=*/true);
  return g * region;
}

torch::Tensor TargetSpec::Values(const torch::Tensor& logits) const {
  return Map(logits).sum({1, 2, 3});
}

}  // namespace fringe::attribution
