// The segmentation training loss (GitHub issue 12): focal loss (plain cross-entropy at gamma 0)
// + dice_weight * (1 - soft Dice over the whole batch) + false_positive_weight * (mean particle
// probability over the pixels that are background in truth). The last term penalises the
// false-positive area directly: a model that marks plain carbon as gold pays for every such
// pixel even when the tile has no particle at all (where Dice says nothing).
#ifndef FRINGE_TRAIN_SEGMENTATION_LOSS_H_
#define FRINGE_TRAIN_SEGMENTATION_LOSS_H_

#include <torch/torch.h>

namespace fringe {

struct SegmentationLossOptions {
  double focal_gamma = 0.0;  // 0 = cross-entropy.
  double dice_weight = 1.0;
  double false_positive_weight = 0.0;
};

struct SegmentationLossTerms {
  torch::Tensor total;           // Scalar, differentiable.
  torch::Tensor focal;           // Mean focal loss (= cross-entropy at gamma 0).
  torch::Tensor dice;            // Soft Dice over the batch (1 = perfect).
  torch::Tensor false_positive;  // Mean particle probability over true background (0 if none).
};

// `logits`: N x 2 x H x W; `target`: N x H x W int64 (0 background, 1 particle).
SegmentationLossTerms SegmentationLoss(const torch::Tensor& logits, const torch::Tensor& target,
                                       const SegmentationLossOptions& options);

}  // namespace fringe

#endif  // FRINGE_TRAIN_SEGMENTATION_LOSS_H_
