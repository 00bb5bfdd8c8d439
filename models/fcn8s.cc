#include "models/fcn8s.h"

#include <cmath>

namespace fringe {

namespace nn = torch::nn;

namespace {

// Rows/columns [offset, offset + h) x [offset, offset + w) of an N x C x H x W map.
torch::Tensor Crop(const torch::Tensor& x, int64_t offset, int64_t h, int64_t w) {
  return x.narrow(2, offset, h).narrow(3, offset, w);
}

torch::Tensor Pool(const torch::Tensor& x) {
  // Ceil mode keeps an odd last row/column (Caffe's pooling does the same).
  return torch::max_pool2d(x, /*kernel_size=*/{2, 2}, /*stride=*/{2, 2}, /*padding=*/{0, 0},
                           /*dilation=*/{1, 1}, /*ceil_mode=*/true);
}

}  // namespace

torch::Tensor BilinearUpsamplingWeights(int64_t channels, int64_t kernel) {
  // FCN's upsample_filt: a separable triangle of half-width `factor` centred on the kernel.
  const int64_t factor = (kernel + 1) / 2;
  const double center = kernel % 2 == 1 ? factor - 1 : factor - 0.5;
  torch::Tensor filt1d = torch::empty({kernel}, torch::kFloat32);
  for (int64_t i = 0; i < kernel; ++i) {
    filt1d[i] = static_cast<float>(1.0 - std::abs(i - center) / factor);
  }
  const torch::Tensor filt = torch::outer(filt1d, filt1d);
  torch::Tensor weight = torch::zeros({channels, channels, kernel, kernel}, torch::kFloat32);
  for (int64_t c = 0; c < channels; ++c) weight[c][c].copy_(filt);
  return weight;
}

std::string FCN8sImpl::ConvName(int index) {
  int block = 0;
  while (index >= kConvsPerBlock[block]) index -= kConvsPerBlock[block++];
  return "conv" + std::to_string(block + 1) + "_" + std::to_string(index + 1);
}

FCN8sImpl::FCN8sImpl(const FCN8sOptions& options) : options_(options) {
  auto dilation_at = [&](int i) { return options_.dilation.empty() ? 1 : options_.dilation.at(i); };
  int in = options_.in_channels;
  int index = 0;
  for (int block = 0; block < 5; ++block) {
    const int out = options_.block_channels[block];
    for (int i = 0; i < kConvsPerBlock[block]; ++i, ++index) {
      convs.push_back(register_module(
          ConvName(index), ConvBnRelu(in, out, dilation_at(block), options_.batch_norm)));
      in = out;
    }
  }
  const int d6 = dilation_at(5);
  const int k6 = options_.fc6_kernel;
  fc6 = register_module("fc6", nn::Conv2d(nn::Conv2dOptions(in, options_.fc6_channels, k6)
                                              .padding(d6 * (k6 - 1) / 2)
                                              .dilation(d6)));
  fc7 = register_module(
      "fc7", nn::Conv2d(nn::Conv2dOptions(options_.fc6_channels, options_.fc7_channels, 1)));
  if (options_.dropout > 0) drop = register_module("drop", nn::Dropout(options_.dropout));
  const int n = options_.num_classes;
  score_fr =
      register_module("score_fr", nn::Conv2d(nn::Conv2dOptions(options_.fc7_channels, n, 1)));
  score_pool4 = register_module("score_pool4",
                                nn::Conv2d(nn::Conv2dOptions(options_.block_channels[3], n, 1)));
  score_pool3 = register_module("score_pool3",
                                nn::Conv2d(nn::Conv2dOptions(options_.block_channels[2], n, 1)));
  auto up = [n](int kernel, int stride) {
    return nn::ConvTranspose2d(nn::ConvTranspose2dOptions(n, n, kernel).stride(stride).bias(false));
  };
  upscore2 = register_module("upscore2", up(4, 2));
  upscore_pool4 = register_module("upscore_pool4", up(4, 2));
  upscore8 = register_module("upscore8", up(16, 8));

  torch::NoGradGuard no_grad;
  // torchvision's VGG initialisation (He normal, fan-out): LibTorch's default (Kaiming uniform
  // with a = sqrt(5)) shrinks the signal layer by layer in a 15-layer plain network without
  // BatchNorm, and training from scratch stalls.
  auto he = [](nn::Conv2d& conv) {
    nn::init::kaiming_normal_(conv->weight, 0.0, torch::kFanOut, torch::kReLU);
    nn::init::zeros_(conv->bias);
  };
  for (auto& conv : convs) he(conv->conv);
  he(fc6);
  he(fc7);
  // Score layers start at zero as in the reference: the first steps learn to read the
  // features before any gradient reaches the backbone.
  for (nn::Conv2d* score : {&score_fr, &score_pool4, &score_pool3}) {
    nn::init::zeros_((*score)->weight);
    nn::init::zeros_((*score)->bias);
  }
  for (nn::ConvTranspose2d* upscore : {&upscore2, &upscore_pool4, &upscore8}) {
    (*upscore)->weight.copy_(
        BilinearUpsamplingWeights(n, (*upscore)->options.kernel_size()->at(0)));
    (*upscore)->weight.set_requires_grad(options_.learn_upsampling);
  }
}

torch::Tensor FCN8sImpl::forward(torch::Tensor x) {
  const int64_t h = x.size(2), w = x.size(3);
  torch::Tensor pool3, pool4;
  int index = 0;
  for (int block = 0; block < 5; ++block) {
    for (int i = 0; i < kConvsPerBlock[block]; ++i) x = convs[index++]->forward(x);
    x = Pool(x);
    if (block == 2) pool3 = x;
    if (block == 3) pool4 = x;
  }
  x = torch::relu(fc6->forward(x));
  if (drop) x = drop->forward(x);
  x = torch::relu(fc7->forward(x));
  if (drop) x = drop->forward(x);
  x = score_fr->forward(x);
  // Crop offsets s/2 = 1, 1, 4 align each k = 2s transposed convolution with the finer map
  // (see the header).
  x = Crop(upscore2->forward(x), 1, pool4.size(2), pool4.size(3)) + score_pool4->forward(pool4);
  x = Crop(upscore_pool4->forward(x), 1, pool3.size(2), pool3.size(3)) +
      score_pool3->forward(pool3);
  return Crop(upscore8->forward(x), 4, h, w);
}

void FCN8sImpl::FoldBatchNorm() {
  for (auto& conv : convs) conv->FoldBatchNorm();
}

std::vector<torch::Tensor> FCN8sImpl::BackboneParameters() const {
  std::vector<torch::Tensor> out;
  for (const auto& conv : convs) {
    for (const auto& p : conv->parameters()) out.push_back(p);
  }
  for (const auto& p : fc6->parameters()) out.push_back(p);
  for (const auto& p : fc7->parameters()) out.push_back(p);
  return out;
}

}  // namespace fringe
