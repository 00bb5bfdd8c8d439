#include "train/segmentation_loss.h"

namespace fringe {

SegmentationLossTerms SegmentationLoss(const torch::Tensor& logits, const torch::Tensor& target,
                                       const SegmentationLossOptions& options) {
  SegmentationLossTerms t;
  if (options.focal_gamma > 0) {
    const torch::Tensor log_p = torch::log_softmax(logits, 1);
    const torch::Tensor log_pt = log_p.gather(1, target.unsqueeze(1)).squeeze(1);
    const torch::Tensor pt = log_pt.exp();
    t.focal = (-(1 - pt).pow(options.focal_gamma) * log_pt).mean();
  } else {
    // Exactly the cross-entropy the trainer always used (bit-identical runs).
    t.focal = torch::nn::functional::cross_entropy(logits, target);
  }
  const torch::Tensor p = torch::softmax(logits, 1).select(1, 1);
  const torch::Tensor truth = target.to(torch::kFloat32);
  t.dice = (2 * (p * truth).sum() + 1) / (p.sum() + truth.sum() + 1);
  t.total = t.focal + options.dice_weight * (1 - t.dice);
  const torch::Tensor background = 1 - truth;
  t.false_positive = (p * background).sum() / background.sum().clamp_min(1);
  if (options.false_positive_weight > 0) {
    t.total = t.total + options.false_positive_weight * t.false_positive;
  }
  return t;
}

}  // namespace fringe
