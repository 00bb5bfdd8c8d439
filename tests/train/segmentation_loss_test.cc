#include "train/segmentation_loss.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

namespace fringe {
namespace {

// 2 images of 3x3, hand-made logits and targets.
torch::Tensor Target() {
  return torch::tensor({0, 1, 0, 0, 1, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1}, torch::kLong)
      .view({2, 3, 3});
}

torch::Tensor Logits() {
  torch::manual_seed(3);
  return torch::randn({2, 2, 3, 3}) * 2;
}

TEST(SegmentationLossTest, FocalWithGammaZeroIsCrossEntropy) {
  const torch::Tensor logits = Logits(), target = Target();
  SegmentationLossOptions o;
  o.dice_weight = 0;
  const double ce = torch::nn::functional::cross_entropy(logits, target).item<double>();
  EXPECT_NEAR(SegmentationLoss(logits, target, o).focal.item<double>(), ce, 1e-6);
  // The focal branch itself at a tiny gamma agrees too, and a positive gamma is below CE
  // (every (1 - p_t)^gamma < 1) and equals the formula by hand.
  o.focal_gamma = 1e-9;
  EXPECT_NEAR(SegmentationLoss(logits, target, o).focal.item<double>(), ce, 1e-5);
  o.focal_gamma = 2;
  const double focal = SegmentationLoss(logits, target, o).focal.item<double>();
  EXPECT_LT(focal, ce);
  const torch::Tensor p = torch::softmax(logits, 1);
  const torch::Tensor pt = p.gather(1, target.unsqueeze(1)).squeeze(1);
  EXPECT_NEAR(focal, (-(1 - pt).pow(2) * pt.log()).mean().item<double>(), 1e-6);
}

TEST(SegmentationLossTest, FalsePositiveTermIsZeroWhenBackgroundIsPredictedBackground) {
  const torch::Tensor target = Target();
  // Background pixels: particle logit far below the background logit (probability 0 in
  // float); particle pixels: anything.
  torch::Tensor logits = torch::zeros({2, 2, 3, 3});
  const torch::Tensor bg = (target == 0);
  logits.select(1, 1).masked_fill_(bg, -200.0);
  logits.select(1, 1).masked_fill_(~bg, 3.0);
  SegmentationLossOptions o;
  o.false_positive_weight = 5;
  const SegmentationLossTerms t = SegmentationLoss(logits, target, o);
  EXPECT_NEAR(t.false_positive.item<double>(), 0.0, 1e-12);
  // The term is the mean particle probability over true background: all-0.5 predictions on
  // an empty tile (no particle anywhere) give 0.5, and it enters the total with its weight.
  const torch::Tensor empty = torch::zeros({1, 4, 4}, torch::kLong);
  const torch::Tensor half = torch::zeros({1, 2, 4, 4});
  o.dice_weight = 0;
  const SegmentationLossTerms e = SegmentationLoss(half, empty, o);
  EXPECT_NEAR(e.false_positive.item<double>(), 0.5, 1e-6);
  EXPECT_NEAR(e.total.item<double>(), e.focal.item<double>() + 5 * 0.5, 1e-5);
}

TEST(SegmentationLossTest, GradientsPointTheRightWay) {
  const torch::Tensor target = Target();
  torch::Tensor logits = Logits().clone().set_requires_grad(true);
  SegmentationLossOptions o;
  o.focal_gamma = 2;
  o.dice_weight = 1;
  o.false_positive_weight = 1;
  SegmentationLoss(logits, target, o).total.backward();
  const torch::Tensor g = logits.grad();
  // Descending the gradient raises the true class's logit relative to the other one at every
  // pixel: d/d(logit_true - logit_other) < 0.
  const torch::Tensor g_true = g.gather(1, target.unsqueeze(1)).squeeze(1);
  const torch::Tensor g_other = g.gather(1, (1 - target).unsqueeze(1)).squeeze(1);
  EXPECT_TRUE((g_true - g_other < 0).all().item<bool>()) << g;

  // The false-positive term alone pushes the particle logit down on background only.
  torch::Tensor l2 = Logits().clone().set_requires_grad(true);
  SegmentationLoss(l2, target, o).false_positive.backward();
  const torch::Tensor particle_grad = l2.grad().select(1, 1);
  EXPECT_TRUE((particle_grad.masked_select(target == 0) > 0).all().item<bool>());
  EXPECT_TRUE((particle_grad.masked_select(target == 1) == 0).all().item<bool>());
}

}  // namespace
}  // namespace fringe
