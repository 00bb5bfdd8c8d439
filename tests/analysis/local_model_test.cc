// The in-process model of the analysis tools on a tiny U-Net: version lookup, preparation,
// logits that agree with the serving path, scores that are exactly what the attribution engine
// explains, and a deletion study end to end.
#include "analysis/local_model.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "analysis/deletion_study.h"
#include "models/frame_segmenter.h"
#include "tests/support/test_repository.h"

namespace fringe::analysis {
namespace {

namespace fs = std::filesystem;

class LocalModelTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    root_ = new std::string(testing::MakeTempDir("local_model"));
    testing::WriteUNetVersion(*root_, "tiny", 1, testing::TinyUNetConfig(), 1);
    testing::WriteUNetVersion(*root_, "tiny", 3, testing::TinyUNetConfig(), 2);
  }
  static void TearDownTestSuite() {
    fs::remove_all(*root_);
    delete root_;
  }
  static cv::Mat Frame(int rows, int cols, int seed) {
    cv::Mat f(rows, cols, CV_32F);
    cv::RNG(seed).fill(f, cv::RNG::NORMAL, 100, 20);
    return f;
  }
  static std::string* root_;
};
std::string* LocalModelTest::root_ = nullptr;

TEST_F(LocalModelTest, MissingVersionIsNotFound) {
  EXPECT_EQ(LocalModel::Load(*root_ + "/tiny/2").status().code(), absl::StatusCode::kNotFound);
}

TEST_F(LocalModelTest, PrepareFrameStandardisesAndPads) {
  const PreparedFrame p = PrepareFrame(Frame(30, 45, 1), 4);
  EXPECT_EQ(p.input.size(), cv::Size(48, 32));
  EXPECT_EQ(p.valid, cv::Rect(0, 0, 45, 30));
  cv::Scalar mean, sd;
  cv::meanStdDev(p.input(p.valid), mean, sd);
  EXPECT_NEAR(mean[0], 0.0, 1e-4);
  EXPECT_NEAR(sd[0], 1.0, 1e-4);
  EXPECT_EQ(cv::countNonZero(p.input(cv::Rect(45, 0, 3, 32))), 0);
  EXPECT_EQ(cv::countNonZero(p.input(cv::Rect(0, 30, 48, 2))), 0);
}

TEST_F(LocalModelTest, LogitsScoresAndFiltersAgreeWithServingAndAttribution) {
  auto model = LocalModel::Load(*root_ + "/tiny/3");
  ASSERT_TRUE(model.ok()) << model.status();
  EXPECT_EQ((*model)->num_classes(), 2);
  EXPECT_EQ((*model)->input_multiple(), 4);
  EXPECT_EQ((*model)->label(), "tiny v3");

  const cv::Mat raw = Frame(64, 64, 7);
  const PreparedFrame p = PrepareFrame(raw, 4);
  auto logits = (*model)->Logits({p.input, p.input});
  ASSERT_TRUE(logits.ok()) << logits.status();
  ASSERT_EQ(logits->size(), 2u);
  ASSERT_EQ((*logits)[0].size(), 2u);
  EXPECT_EQ(cv::norm((*logits)[0][1], (*logits)[1][1], cv::NORM_INF), 0.0);  // Batch-independent.
  // The argmax of the logits is the serving path's mask.
  FrameSegmenterOptions seg;
  seg.tile_size = 64;
  seg.tile_margin = 8;
  auto served = SegmentFrame((*model)->segmenter(), raw, seg);
  ASSERT_TRUE(served.ok()) << served.status();
  const cv::Mat argmax = (*logits)[0][1] > (*logits)[0][0];
  EXPECT_LE(cv::countNonZero(argmax != (served->mask != 0)), 2);  // Ties at most.

  // The score of a region is the attribution engine's target for that region, plain and
  // contrastive.
  cv::Mat region = cv::Mat::zeros(64, 64, CV_8U);
  region(cv::Rect(8, 16, 24, 20)).setTo(1);
  for (const bool contrastive : {false, true}) {
    auto score = (*model)->RegionScores({p.input}, region, 1, contrastive);
    ASSERT_TRUE(score.ok()) << score.status();
    AttributionRequest request;
    request.method = "gradient";
    request.target.kind = AttributionTarget::Kind::kMask;
    request.target.mask = region;
    request.target.contrastive = contrastive;
    auto explained = (*model)->explainer().Explain(p.input, request);
    ASSERT_TRUE(explained.ok()) << explained.status();
    EXPECT_NEAR((*score)[0], explained->target_value,
                1e-4 * std::max(1.0, std::abs(explained->target_value)))
        << contrastive;
    const cv::Mat logit1 = (*logits)[0][1], logit0 = (*logits)[0][0];
    const double direct = contrastive ? cv::sum((logit1 - logit0)(cv::Rect(8, 16, 24, 20)))[0]
                                      : cv::sum(logit1(cv::Rect(8, 16, 24, 20)))[0];
    EXPECT_NEAR((*score)[0], direct, 1e-3 * std::max(1.0, std::abs(direct)));
  }
  EXPECT_EQ(
      (*model)->RegionScores({p.input}, cv::Mat::zeros(8, 8, CV_8U), 1, false).status().code(),
      absl::StatusCode::kInvalidArgument);
  EXPECT_EQ((*model)->RegionScores({p.input}, region, 2, false).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ((*model)->Logits({cv::Mat::zeros(30, 30, CV_32F)}).status().code(),
            absl::StatusCode::kInvalidArgument);

  const std::vector<cv::Mat> filters = (*model)->FirstLayerFilters();
  ASSERT_EQ(filters.size(), 4u);  // Base filters of the tiny config.
  for (const cv::Mat& f : filters) {
    EXPECT_EQ(f.size(), cv::Size(3, 3));
    EXPECT_GT(cv::norm(f), 0.0);
  }
  // Two versions with different seeds have different filters.
  auto other = LocalModel::Load(*root_ + "/tiny/1");
  ASSERT_TRUE(other.ok());
  EXPECT_GT(cv::norm(filters[0], (*other)->FirstLayerFilters()[0]), 1e-6);
}

TEST_F(LocalModelTest, DeletionStudyOnATinyModel) {
  auto model = LocalModel::Load(*root_ + "/tiny/3");
  ASSERT_TRUE(model.ok());
  auto methods = ParseDeletionMethods("lrp,gradient_x_input,random", {});
  ASSERT_TRUE(methods.ok()) << methods.status();
  EXPECT_EQ((*methods)[1].method, "gradient-x-input");
  DeletionStudyOptions options;
  options.flipping.patch = 8;
  options.flipping.steps = 4;
  options.random_seeds = 2;
  options.keep_maps = true;
  const cv::Mat raw = Frame(60, 64, 3);  // Padded to 60 -> 60 (multiple of 4): 8 x 8 patches.
  // An untrained net may predict either class everywhere: explain whichever has pixels.
  FrameDeletionResult result;
  for (const int c : {1, 0}) {
    options.class_index = c;
    int calls = 0;
    auto r = RunDeletionStudyOnFrame(**model, raw, "f", *methods, options,
                                     [&](const std::string&) { ++calls; });
    ASSERT_TRUE(r.ok()) << r.status();
    if (r->skipped) continue;
    EXPECT_EQ(calls, 3);
    result = *r;
    break;
  }
  ASSERT_FALSE(result.skipped);
  EXPECT_EQ(result.patches, 8 * 8);
  ASSERT_EQ(result.methods.size(), 3u);
  for (const auto& [label, m] : result.methods) {
    EXPECT_DOUBLE_EQ(m.curves.deletion.normalised.front(), 1.0) << label;
    EXPECT_DOUBLE_EQ(m.curves.deletion.normalised.back(), 0.0) << label;
    EXPECT_DOUBLE_EQ(m.curves.insertion.normalised.front(), 0.0) << label;
    EXPECT_DOUBLE_EQ(m.curves.insertion.normalised.back(), 1.0) << label;
    if (label != "random") {
      // The engine explained exactly the scored quantity.
      EXPECT_NEAR(m.explained_target, result.full_score,
                  1e-4 * std::max(1.0, std::abs(result.full_score)))
          << label;
      EXPECT_EQ(m.relevance.size(), raw.size());
    }
  }
  const auto summaries = SummarizeDeletionStudy({result}, *methods);
  ASSERT_EQ(summaries.size(), 3u);
  EXPECT_EQ(summaries[0].deletion_auc.n, 1);
  EXPECT_EQ(summaries[0].fraction.size(), 5u);
  const PairedComparison cmp = CompareMethods({result, result}, "lrp", "random");
  EXPECT_EQ(cmp.deletion_difference.n, 2);
  EXPECT_NEAR(
      cmp.deletion_difference.mean,
      result.methods["lrp"].curves.deletion.auc - result.methods["random"].curves.deletion.auc,
      1e-12);
  const std::string md = FormatDeletionMarkdown(summaries);
  EXPECT_NE(md.find("| `lrp` |"), std::string::npos);
  const std::string csv = FormatDeletionCurvesCsv(summaries);
  EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), 1 + 3 * 2 * 5);

  EXPECT_EQ(ParseDeletionMethods("lrp,nope", {}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseDeletionMethods("lrp,lrp", {}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseDeletionMethods("lrp", {"gradient.steps=3"}).status().code(),
            absl::StatusCode::kInvalidArgument);  // Names no listed method.
  auto with_params = ParseDeletionMethods("signed:gradient,integrated_gradients",
                                          {"integrated_gradients.steps=4"});
  ASSERT_TRUE(with_params.ok());
  EXPECT_FALSE((*with_params)[0].absolute);
  EXPECT_EQ((*with_params)[0].label, "signed:gradient");
  EXPECT_EQ((*with_params)[1].parameters.at("steps"), "4");
  EXPECT_TRUE((*ParseDeletionMethods("gradient", {}))[0].absolute);
}

}  // namespace
}  // namespace fringe::analysis
