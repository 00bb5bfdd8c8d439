// The canonical form of an FCN8s-VGG16 (models/fcn8s.h) for attribution, the counterpart of
// canonical_unet.h: BatchNorm folded into the convolutions, dropout dropped (identity in
// eval), the weights as plain LinearLayers, and a functional forward pass that records what
// LRP needs: each linear layer's input and pre-activation (the transposed convolutions' before
// their crop), the ceil-mode max-pool winners and the two inputs of each score fusion.
// Internal to models/attribution: includes torch.
#ifndef FRINGE_MODELS_ATTRIBUTION_CANONICAL_FCN8S_H_
#define FRINGE_MODELS_ATTRIBUTION_CANONICAL_FCN8S_H_

#include <torch/torch.h>

#include <array>
#include <string>
#include <vector>

#include "models/attribution/canonical_unet.h"
#include "models/fcn8s.h"

namespace fringe::attribution {

// Everything the FCN8s LRP pass reads.
struct Fcn8sTrace {
  ForwardTrace layers;  // inputs / pre_activations per layer, pool winners per block (5).
  // Per fusion (0: fuse_pool4 = crop(upscore2) + score_pool4, 1: fuse_pool3 =
  // crop(upscore_pool4) + score_pool3): the cropped up-sampled scores and the skip scores.
  std::array<torch::Tensor, 2> fuse_upsampled, fuse_skip;
};

class CanonicalFCN8s : public DifferentiableNet {
 public:
  // Copies the module's weights and folds BatchNorm (eval statistics) into them; `net` is not
  // modified and may be folded already.
  explicit CanonicalFCN8s(FCN8s& net);

  // Logits N x C x H x W for N x in_channels x H x W input of any size; differentiable with
  // respect to `x`. Observer names: ActivationNames().
  torch::Tensor Forward(const torch::Tensor& x, Fcn8sTrace* trace = nullptr,
                        const ActivationObserver& observer = nullptr) const;
  torch::Tensor Logits(const torch::Tensor& x, const ActivationObserver& observer) const override {
    return Forward(x, nullptr, observer);
  }

  // Forward order: conv1_1..conv5_3 (group "first" for conv1_1, else "encoder"), fc6, fc7
  // ("encoder"), score_fr ("decoder"), upscore2 ("upsample"), score_pool4 ("decoder"),
  // upscore_pool4 ("upsample"), score_pool3 ("decoder"), upscore8 ("head": the last linear
  // map, where the target's class weights are folded in).
  const std::vector<LinearLayer>& layers() const { return layers_; }
  int num_classes() const override { return static_cast<int>(layers_.back().out_channels()); }
  // Ceil-mode pools and crops: any size works.
  int input_multiple() const override { return 1; }
  std::string DefaultCamLayer() const override { return "fc7"; }
  std::vector<std::string> ActivationNames() const override;

  static constexpr int kNumConvs = 13;
  int Fc6() const { return kNumConvs; }
  int Fc7() const { return kNumConvs + 1; }
  int ScoreFr() const { return kNumConvs + 2; }
  int Upscore2() const { return kNumConvs + 3; }
  int ScorePool4() const { return kNumConvs + 4; }
  int UpscorePool4() const { return kNumConvs + 5; }
  int ScorePool3() const { return kNumConvs + 6; }
  int Upscore8() const { return kNumConvs + 7; }
  int Head() const { return Upscore8(); }
  // Offset of the crop after a transposed convolution of stride s: s / 2 (see models/fcn8s.h).
  static int64_t CropOffset(const LinearLayer& layer) { return layer.stride / 2; }

 private:
  torch::Tensor Run(int index, const torch::Tensor& x, Fcn8sTrace* trace,
                    const ActivationObserver& observer) const;

  std::vector<LinearLayer> layers_;
};

}  // namespace fringe::attribution

#endif  // FRINGE_MODELS_ATTRIBUTION_CANONICAL_FCN8S_H_
