// FCN8s with a VGG16 backbone (Long, Shelhamer & Darrell 2015) in the LibTorch C++ frontend.
// Includes torch: only torch translation units include it.
//
// Layout (full width): conv1_1..conv1_2 (64) pool1, conv2_x (128) pool2, conv3_x (256) pool3,
// conv4_x (512) pool4, conv5_x (512) pool5, fc6 (7x7, 4096) fc7 (1x1, 4096) as convolutions,
// score_fr / score_pool4 / score_pool3 (1x1 to the classes), upscore2 (4x4/2) + score_pool4,
// upscore_pool4 (4x4/2) + score_pool3, upscore8 (16x16/8) to the input size.
//
// Padding: every 3x3 convolution is padded "same" (padding = dilation) and fc6 too, instead of
// the Caffe reference's 100-pixel padding of conv1_1 with crop offsets 5/9/31 and an unpadded
// fc6. Pad-100 exists only so that a 7x7 fc6 fits inside small pool5 maps; it costs
// (712/512)^2 = 1.9x the compute on a 512 tile and makes the crop offsets depend on it. With
// "same" padding, a pool-level-l feature j is centred on input pixel 2^l j + (2^l - 1) / 2 and a
// k = 2s, stride-s transposed convolution puts input j at output s j + s - 1/2; cropping s/2
// output pixels (1, 1 and 4) aligns every up-sampled map with the finer one exactly, which is
// also bilinear interpolation with align_corners = false. Pools use ceil mode so odd sizes keep
// their last row/column; the output always covers the input, and any input size works.
#ifndef FRINGE_MODELS_FCN8S_H_
#define FRINGE_MODELS_FCN8S_H_

#include <torch/torch.h>

#include <array>
#include <string>
#include <vector>

#include "models/unet.h"  // ConvBnRelu

namespace fringe {

struct FCN8sOptions {
  int in_channels = 1;
  int num_classes = 2;
  std::array<int, 5> block_channels = {64, 128, 256, 512, 512};  // VGG16 at full width.
  int fc6_channels = 4096;
  int fc7_channels = 4096;
  int fc6_kernel = 7;
  std::vector<int> dilation;  // 6 entries (5 blocks, then fc6), or empty = all 1.
  bool batch_norm = false;
  double dropout = 0.0;           // After fc6 and fc7.
  bool learn_upsampling = false;  // false: transposed convolutions stay bilinear (no gradient).
};

// Weights of a k x k transposed convolution (in = out = channels) that up-samples each channel
// by bilinear interpolation by a factor (k + 1) / 2 and leaves channels unmixed: FCN's
// `upsample_filt` on the diagonal, zero elsewhere.
torch::Tensor BilinearUpsamplingWeights(int64_t channels, int64_t kernel);

// Logits N x num_classes x H x W for N x in_channels x H x W input of any size.
class FCN8sImpl : public torch::nn::Module {
 public:
  explicit FCN8sImpl(const FCN8sOptions& options);
  torch::Tensor forward(torch::Tensor x);
  // Folds every BatchNorm (eval-mode statistics) into its convolution; no-op without BN.
  void FoldBatchNorm();
  const FCN8sOptions& options() const { return options_; }

  // The VGG16 part (conv1_1..conv5_3, fc6, fc7): what ImageNet weights initialise and what
  // fine-tuning freezes. The score and up-sampling layers are the head.
  std::vector<torch::Tensor> BackboneParameters() const;

  // Convolutions of the 5 blocks in VGG16 order (conv1_1, conv1_2, conv2_1, ..., conv5_3).
  std::vector<ConvBnRelu> convs;
  torch::nn::Conv2d fc6{nullptr}, fc7{nullptr};
  torch::nn::Dropout drop{nullptr};
  torch::nn::Conv2d score_fr{nullptr}, score_pool4{nullptr}, score_pool3{nullptr};
  torch::nn::ConvTranspose2d upscore2{nullptr}, upscore_pool4{nullptr}, upscore8{nullptr};

  // "conv1_1", ... for convs[i].
  static std::string ConvName(int index);
  // Convolutions per block in VGG16: 2, 2, 3, 3, 3.
  static constexpr std::array<int, 5> kConvsPerBlock = {2, 2, 3, 3, 3};

 private:
  FCN8sOptions options_;
};
TORCH_MODULE(FCN8s);

}  // namespace fringe

#endif  // FRINGE_MODELS_FCN8S_H_
