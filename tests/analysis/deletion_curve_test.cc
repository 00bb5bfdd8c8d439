// Pixel flipping on hand-built "models" whose right answer is known: a score that depends only
// on one region of the frame must be explained best by an ordering that starts there.
#include "analysis/deletion_curve.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>
#include <set>

namespace fringe::analysis {
namespace {

TEST(TrapezoidAucTest, KnownCurves) {
  // y = x on [0, 1]: 1/2 exactly for any grid (linear); y = x^2 on 5 points: 0.34375.
  EXPECT_DOUBLE_EQ(TrapezoidAuc({0, 0.5, 1}, {0, 0.5, 1}), 0.5);
  EXPECT_DOUBLE_EQ(TrapezoidAuc({0, 0.25, 0.5, 0.75, 1}, {0, 0.0625, 0.25, 0.5625, 1}), 0.34375);
  // Uneven spacing: a step from 1 to 0 between 0.2 and 0.3 -> 0.2 + 0.05.
  EXPECT_DOUBLE_EQ(TrapezoidAuc({0, 0.2, 0.3, 1}, {1, 1, 0, 0}), 0.25);
  EXPECT_DOUBLE_EQ(TrapezoidAuc({0}, {1}), 0.0);
  EXPECT_DOUBLE_EQ(TrapezoidAuc({}, {}), 0.0);
}

TEST(PatchTest, CountRectsAndOrder) {
  EXPECT_EQ(PatchCount(cv::Size(16, 16), 8), 4);
  EXPECT_EQ(PatchCount(cv::Size(17, 9), 8), 6);  // Partial patches at the edges count.
  EXPECT_EQ(PatchRect(cv::Size(17, 9), 8, 2), cv::Rect(16, 0, 1, 8));
  EXPECT_EQ(PatchRect(cv::Size(17, 9), 8, 5), cv::Rect(16, 8, 1, 1));

  cv::Mat r = cv::Mat::zeros(16, 16, CV_32F);
  r(cv::Rect(8, 8, 8, 8)).setTo(3.0f);   // Patch 3: most relevant.
  r(cv::Rect(0, 8, 8, 8)).setTo(-1.0f);  // Patch 2: negative, last.
  r.at<float>(0, 9) = 0.5f;              // Patch 1: a little.
  EXPECT_EQ(OrderPatchesByRelevance(r, 8), (std::vector<int>{3, 1, 0, 2}));
  // Ties keep raster order.
  EXPECT_EQ(OrderPatchesByRelevance(cv::Mat::zeros(16, 16, CV_32F), 8),
            (std::vector<int>{0, 1, 2, 3}));
}

TEST(PatchTest, RandomOrderIsASeededPermutation) {
  const std::vector<int> a = RandomPatchOrder(100, 7), b = RandomPatchOrder(100, 7),
                         c = RandomPatchOrder(100, 8);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  std::vector<int> sorted = a;
  std::sort(sorted.begin(), sorted.end());
  std::vector<int> expected(100);
  std::iota(expected.begin(), expected.end(), 0);
  EXPECT_EQ(sorted, expected);
  std::vector<int> identity(100);
  std::iota(identity.begin(), identity.end(), 0);
  EXPECT_NE(a, identity);
}

// A "model" whose output depends only on one region: T(x) = sum of x over `region`.
FrameScorer RegionSum(const cv::Rect& region, int* calls = nullptr) {
  return
      [region, calls](const std::vector<cv::Mat>& frames) -> absl::StatusOr<std::vector<double>> {
        if (calls) ++*calls;
        std::vector<double> out;
        for (const cv::Mat& f : frames) out.push_back(cv::sum(f(region))[0]);
        return out;
      };
}

TEST(RunDeletionInsertionTest, RegionOrderingBeatsRandomAndReverse) {
  // 64x64 frame of positive values, 8x8 patches (64 of them); the score reads a 16x16 square
  // = 4 patches. Relevance = gradient x input = x inside the square, 0 outside.
  cv::Mat frame(64, 64, CV_32F);
  cv::randu(frame, 0.5, 1.5);
  const cv::Mat reference = cv::Mat::zeros(64, 64, CV_32F);
  const cv::Rect region(16, 24, 16, 16);
  cv::Mat relevance = cv::Mat::zeros(64, 64, CV_32F);
  frame(region).copyTo(relevance(region));

  PixelFlippingOptions options;
  options.patch = 8;
  options.steps = 16;  // 4 patches per step.
  int calls = 0;
  const FrameScorer scorer = RegionSum(region, &calls);
  auto good = RunDeletionInsertion(frame, reference, OrderPatchesByRelevance(relevance, 8), options,
                                   scorer);
  ASSERT_TRUE(good.ok()) << good.status();
  EXPECT_NEAR(good->full_score, cv::sum(frame(region))[0], 1e-3);
  EXPECT_EQ(good->reference_score, 0.0);
  // The 4 relevant patches go in the first step: deletion drops to 0 at 1/16 and stays there;
  // insertion reaches 1 at 1/16.
  ASSERT_EQ(good->deletion.normalised.size(), 17u);
  EXPECT_DOUBLE_EQ(good->deletion.normalised[0], 1.0);
  for (int k = 1; k <= 16; ++k) EXPECT_NEAR(good->deletion.normalised[k], 0.0, 1e-9) << k;
  EXPECT_NEAR(good->deletion.auc, 0.5 / 16, 1e-9);
  EXPECT_NEAR(good->insertion.auc, 1.0 - 0.5 / 16, 1e-9);
  // Batched: 2 * 15 intermediate frames in batches of 4 plus one call for both end points.
  EXPECT_EQ(calls, 1 + (30 + 3) / 4);

  // Random orderings (averaged over seeds) land near the diagonal, far from the good one.
  std::vector<PerturbationCurve> del, ins;
  for (uint64_t seed = 0; seed < 8; ++seed) {
    auto r = RunDeletionInsertion(frame, reference, RandomPatchOrder(64, seed), options, scorer);
    ASSERT_TRUE(r.ok());
    del.push_back(r->deletion);
    ins.push_back(r->insertion);
  }
  const PerturbationCurve random_del = MeanCurve(del), random_ins = MeanCurve(ins);
  EXPECT_GT(random_del.auc, 0.3);
  EXPECT_LT(random_del.auc, 0.7);
  EXPECT_LT(good->deletion.auc, random_del.auc - 0.2);
  EXPECT_GT(good->insertion.auc, random_ins.auc + 0.2);
  double mean_of_aucs = 0;
  for (const auto& c : del) mean_of_aucs += c.auc / del.size();
  EXPECT_NEAR(random_del.auc, mean_of_aucs, 1e-9);  // AUC is linear in the curve.

  // The reversed ordering (least relevant first) is worse than random.
  std::vector<int> reversed = OrderPatchesByRelevance(relevance, 8);
  std::reverse(reversed.begin(), reversed.end());
  auto bad = RunDeletionInsertion(frame, reference, reversed, options, scorer);
  ASSERT_TRUE(bad.ok());
  EXPECT_GT(bad->deletion.auc, random_del.auc + 0.2);
  EXPECT_LT(bad->insertion.auc, random_ins.auc - 0.2);
}

TEST(RunDeletionInsertionTest, RegionLimitsThePatchesAndGivenEndsAreUsed) {
  // Pixels right of x = 32 stand for padding: equal in frame and reference, never patched.
  cv::Mat frame(32, 48, CV_32F, cv::Scalar(1.0f));
  cv::Mat reference = frame.clone();
  const cv::Rect region(0, 0, 32, 32);
  reference(region).setTo(0.0f);
  PixelFlippingOptions options;
  options.patch = 16;
  options.steps = 4;
  std::vector<cv::Mat> seen;
  const FrameScorer scorer = [&](const std::vector<cv::Mat>& frames) {
    std::vector<double> out;
    for (const cv::Mat& f : frames) {
      seen.push_back(f.clone());
      out.push_back(cv::sum(f)[0]);
    }
    return absl::StatusOr<std::vector<double>>(out);
  };
  const double full = 32 * 48, ref = 32 * 16;  // The untouched strip keeps its ones.
  auto r =
      RunDeletionInsertion(frame, reference, {3, 2, 1, 0}, options, scorer, region, &full, &ref);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(seen.size(), 6u);  // Only intermediate points: the ends were given.
  for (const cv::Mat& f : seen) {
    EXPECT_EQ(cv::countNonZero(f(cv::Rect(32, 0, 16, 32))), 32 * 16);
  }
  // One 16x16 patch (256 of the 1024 region pixels) per step: a straight line.
  EXPECT_NEAR(r->deletion.normalised[1], 0.75, 1e-9);
  EXPECT_NEAR(r->deletion.auc, 0.5, 1e-9);
  EXPECT_NEAR(r->insertion.auc, 0.5, 1e-9);
  // Relative to the frame's score alone both run between 1 and 1/3 along straight lines.
  EXPECT_NEAR(r->deletion.relative[1], 1280.0 / 1536, 1e-9);
  EXPECT_NEAR(r->deletion.relative_auc, (1 + 1.0 / 3) / 2, 1e-9);
  EXPECT_NEAR(r->insertion.relative_auc, (1 + 1.0 / 3) / 2, 1e-9);
}

TEST(RunDeletionInsertionTest, RejectsBadInputsAndPassesScorerErrors) {
  const cv::Mat frame = cv::Mat::ones(16, 16, CV_32F), reference = cv::Mat::zeros(16, 16, CV_32F);
  PixelFlippingOptions options;
  const FrameScorer sum = RegionSum(cv::Rect(0, 0, 16, 16));
  EXPECT_EQ(RunDeletionInsertion(frame, reference, {0, 1, 2}, options, sum).status().code(),
            absl::StatusCode::kInvalidArgument);  // Not all 4 patches.
  EXPECT_EQ(RunDeletionInsertion(frame, reference, {0, 1, 1, 2}, options, sum).status().code(),
            absl::StatusCode::kInvalidArgument);  // Not a permutation.
  EXPECT_EQ(RunDeletionInsertion(frame, frame.clone(), {0, 1, 2, 3}, options, sum).status().code(),
            absl::StatusCode::kInvalidArgument);  // Nothing to normalise by.
  EXPECT_EQ(
      RunDeletionInsertion(frame, cv::Mat::zeros(8, 8, CV_32F), {0}, options, sum).status().code(),
      absl::StatusCode::kInvalidArgument);
  const FrameScorer broken =
      [](const std::vector<cv::Mat>&) -> absl::StatusOr<std::vector<double>> {
    return absl::InternalError("model exploded");
  };
  auto r = RunDeletionInsertion(frame, reference, {0, 1, 2, 3}, options, broken);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInternal);
  EXPECT_NE(r.status().message().find("model exploded"), std::string::npos);
}

}  // namespace
}  // namespace fringe::analysis
