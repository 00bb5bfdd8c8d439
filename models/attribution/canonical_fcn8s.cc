#include "models/attribution/canonical_fcn8s.h"

#include <tuple>
#include <utility>

namespace fringe::attribution {
namespace {

namespace nn = torch::nn;

LinearLayer FromConv(const std::string& name, const std::string& group, nn::Conv2d& conv, bool relu,
                     bool nonnegative_input) {
  LinearLayer layer;
  layer.name = name;
  layer.group = group;
  layer.weight = conv->weight.detach().clone().contiguous();
  layer.bias = conv->bias.detach().clone().contiguous();
  layer.dilation = conv->options.dilation()->at(0);
  layer.padding = layer.dilation * (layer.weight.size(2) - 1) / 2;
  layer.relu = relu;
  layer.nonnegative_input = nonnegative_input;
  return layer;
}

LinearLayer FromTransposed(const std::string& name, const std::string& group,
                           nn::ConvTranspose2d& up) {
  LinearLayer layer;
  layer.name = name;
  layer.group = group;
  layer.kind = LinearLayer::Kind::kTransposed;
  layer.weight = up->weight.detach().clone().contiguous();
  // The up-sampling has no bias; a zero one keeps every rule's "z - b" arithmetic uniform.
  layer.bias = torch::zeros({layer.weight.size(1)}, layer.weight.options());
  layer.stride = up->options.stride()->at(0);
  layer.relu = false;
  // It reads class scores, which are signed.
  layer.nonnegative_input = false;
  return layer;
}

torch::Tensor Crop(const torch::Tensor& x, int64_t offset, int64_t h, int64_t w) {
  return x.narrow(2, offset, h).narrow(3, offset, w);
}

}  // namespace

CanonicalFCN8s::CanonicalFCN8s(FCN8s& net) {
  torch::NoGradGuard no_grad;
  for (int i = 0; i < static_cast<int>(net->convs.size()); ++i) {
    LinearLayer layer;
    layer.name = FCN8sImpl::ConvName(i);
    layer.group = i == 0 ? "first" : "encoder";
    std::tie(layer.weight, layer.bias) = FoldedConv(net->convs[i]);
    layer.dilation = net->convs[i]->conv->options.dilation()->at(0);
    layer.padding = layer.dilation * (layer.weight.size(2) - 1) / 2;
    // conv1_1 reads the (signed) image; every other conv a ReLU output or its max-pool.
    layer.nonnegative_input = i > 0;
    layers_.push_back(std::move(layer));
  }
  layers_.push_back(FromConv("fc6", "encoder", net->fc6, true, true));
  layers_.push_back(FromConv("fc7", "encoder", net->fc7, true, true));
  layers_.push_back(FromConv("score_fr", "decoder", net->score_fr, false, true));
  layers_.push_back(FromTransposed("upscore2", "upsample", net->upscore2));
  layers_.push_back(FromConv("score_pool4", "decoder", net->score_pool4, false, true));
  layers_.push_back(FromTransposed("upscore_pool4", "upsample", net->upscore_pool4));
  layers_.push_back(FromConv("score_pool3", "decoder", net->score_pool3, false, true));
  layers_.push_back(FromTransposed("upscore8", "head", net->upscore8));
}

std::vector<std::string> CanonicalFCN8s::ActivationNames() const {
  std::vector<std::string> names;
  int index = 0;
  for (int block = 0; block < 5; ++block) {
    for (int i = 0; i < FCN8sImpl::kConvsPerBlock[block]; ++i) {
      names.push_back(layers_[index++].name);
    }
    names.push_back("pool" + std::to_string(block + 1));
  }
  for (int i = Fc6(); i < Upscore8(); ++i) {
    names.push_back(layers_[i].name);
    if (i == ScorePool4()) names.push_back("fuse_pool4");
    if (i == ScorePool3()) names.push_back("fuse_pool3");
  }
  names.push_back("head");
  return names;
}

torch::Tensor CanonicalFCN8s::Run(int index, const torch::Tensor& x, Fcn8sTrace* trace,
                                  const ActivationObserver& observer) const {
  const LinearLayer& layer = layers_[index];
  torch::Tensor y = RunLinearLayer(layer, index, x, trace != nullptr ? &trace->layers : nullptr);
  if (observer && index != Head()) observer(layer.name, y);
  return y;
}

torch::Tensor CanonicalFCN8s::Forward(const torch::Tensor& input, Fcn8sTrace* trace,
                                      const ActivationObserver& observer) const {
  if (trace != nullptr) {
    trace->layers.inputs.assign(layers_.size(), torch::Tensor());
    trace->layers.pre_activations.assign(layers_.size(), torch::Tensor());
    trace->layers.pool_indices.assign(5, torch::Tensor());
    trace->layers.pool_input_sizes.assign(5, {});
  }
  const int64_t h = input.size(2), w = input.size(3);
  torch::Tensor x = input, pool3, pool4;
  int index = 0;
  for (int block = 0; block < 5; ++block) {
    for (int i = 0; i < FCN8sImpl::kConvsPerBlock[block]; ++i) {
      x = Run(index++, x, trace, observer);
    }
    // Ceil mode, as FCN8sImpl::forward: odd sides keep their last row/column.
    if (trace != nullptr) {
      auto [pooled, indices] =
          torch::max_pool2d_with_indices(x, {2, 2}, {2, 2}, {0, 0}, {1, 1}, /*ceil_mode=*/true);
      trace->layers.pool_indices[block] = indices;
      trace->layers.pool_input_sizes[block] = x.sizes().vec();
      x = pooled;
    } else {
      x = torch::max_pool2d(x, {2, 2}, {2, 2}, {0, 0}, {1, 1}, /*ceil_mode=*/true);
    }
    if (observer) observer("pool" + std::to_string(block + 1), x);
    if (block == 2) pool3 = x;
    if (block == 3) pool4 = x;
  }
  x = Run(Fc6(), x, trace, observer);
  x = Run(Fc7(), x, trace, observer);
  x = Run(ScoreFr(), x, trace, observer);
  // fuse = crop(up(x)) + score(pool): the crop offsets are s / 2 (models/fcn8s.h).
  auto fuse = [&](int up, int score, const torch::Tensor& pool, int slot) {
    const torch::Tensor upsampled =
        Crop(Run(up, x, trace, observer), CropOffset(layers_[up]), pool.size(2), pool.size(3));
    const torch::Tensor skip = Run(score, pool, trace, observer);
    if (trace != nullptr) {
      trace->fuse_upsampled[slot] = upsampled;
      trace->fuse_skip[slot] = skip;
    }
    torch::Tensor sum = upsampled + skip;
    if (observer) observer(slot == 0 ? "fuse_pool4" : "fuse_pool3", sum);
    return sum;
  };
  x = fuse(Upscore2(), ScorePool4(), pool4, 0);
  x = fuse(UpscorePool4(), ScorePool3(), pool3, 1);
  torch::Tensor logits =
      Crop(Run(Upscore8(), x, trace, observer), CropOffset(layers_[Upscore8()]), h, w);
  if (observer) observer("head", logits);
  return logits;
}

}  // namespace fringe::attribution
