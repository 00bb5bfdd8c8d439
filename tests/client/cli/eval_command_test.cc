// The pure parts of `fringe eval`: dose binning, aggregation, the printed table, the files'
// contents and the Dice-vs-dose plot, on hand-made numbers.
#include "client/cli/eval_command.h"

#include <gtest/gtest.h>

#include <cmath>
#include <nlohmann/json.hpp>
#include <opencv2/imgproc.hpp>

namespace fringe {
namespace {

ImageEvaluation Make(const std::string& stem, std::optional<double> dose, int64_t tp, int64_t fp,
                     int64_t fn, int64_t tn, std::optional<double> compute_ms = std::nullopt) {
  ImageEvaluation r;
  r.stem = stem;
  r.dose = dose;
  r.counts.true_positive = tp;
  r.counts.false_positive = fp;
  r.counts.false_negative = fn;
  r.counts.true_negative = tn;
  r.metrics = ComputeMetrics(r.counts);
  r.compute_ms = compute_ms;
  return r;
}

// Four images whose per-image and pooled Dice differ, with one empty bin and one image
// without a dose.
std::vector<ImageEvaluation> Sample() {
  return {
      Make("a", 50, 8, 2, 0, 90, 2.0),            // Dice 16/18
      Make("b", 80, 1, 0, 9, 90, 4.0),            // Dice 2/11
      Make("c", 500, 0, 0, 0, 100),               // Dice 1 (both masks empty), no timing
      Make("d", std::nullopt, 5, 5, 5, 85, 6.0),  // Dice 0.5, no dose
  };
}

TEST(DoseBinTest, EdgesBelongToTheUpperBin) {
  EXPECT_EQ(DoseBin(0.0), 0);
  EXPECT_EQ(DoseBin(30.0), 0);
  EXPECT_EQ(DoseBin(99.999), 0);
  EXPECT_EQ(DoseBin(100.0), 1);
  EXPECT_EQ(DoseBin(299.9), 1);
  EXPECT_EQ(DoseBin(300.0), 2);
  EXPECT_EQ(DoseBin(5000.0), 2);
  EXPECT_EQ(DoseBinLabel(0), "< 100");
  EXPECT_EQ(DoseBinLabel(1), "100-300");
  EXPECT_EQ(DoseBinLabel(2), ">= 300");
}

TEST(SummarizeEvaluationsTest, MeansPooledAndBins) {
  const EvalSummary s = SummarizeEvaluations(Sample());
  const double da = 16.0 / 18, db = 2.0 / 11, dc = 1.0, dd = 0.5;
  EXPECT_EQ(s.evaluated, 4);
  ASSERT_TRUE(s.mean_dice.has_value());
  EXPECT_NEAR(*s.mean_dice, (da + db + dc + dd) / 4, 1e-12);
  EXPECT_NEAR(*s.mean_iou, (8.0 / 10 + 1.0 / 10 + 1.0 + 5.0 / 15) / 4, 1e-12);
  EXPECT_NEAR(*s.mean_precision, (0.8 + 1.0 + 1.0 + 0.5) / 4, 1e-12);
  EXPECT_NEAR(*s.mean_recall, (1.0 + 0.1 + 1.0 + 0.5) / 4, 1e-12);
  EXPECT_NEAR(*s.mean_f1, *s.mean_dice, 1e-12);  // F1 equals Dice image by image.
  // Only images with a known compute time count: (2 + 4 + 6) / 3.
  ASSERT_TRUE(s.mean_compute_ms.has_value());
  EXPECT_NEAR(*s.mean_compute_ms, 4.0, 1e-12);

  // Pooled: TP 14, FP 7, FN 14 over all pixels -> 28 / 49, not the mean of the Dices.
  EXPECT_EQ(s.pooled_counts.true_positive, 14);
  EXPECT_EQ(s.pooled_counts.false_positive, 7);
  EXPECT_EQ(s.pooled_counts.false_negative, 14);
  EXPECT_EQ(s.pooled_counts.true_negative, 365);
  ASSERT_TRUE(s.pooled.has_value());
  EXPECT_NEAR(s.pooled->dice, 28.0 / 49, 1e-12);
  EXPECT_GT(std::abs(s.pooled->dice - *s.mean_dice), 0.05);

  EXPECT_EQ(s.bins[0].label, "< 100");
  EXPECT_EQ(s.bins[0].count, 2);
  ASSERT_TRUE(s.bins[0].mean_dice.has_value());
  EXPECT_NEAR(*s.bins[0].mean_dice, (da + db) / 2, 1e-12);
  EXPECT_EQ(s.bins[1].count, 0);
  EXPECT_FALSE(s.bins[1].mean_dice.has_value());
  EXPECT_EQ(s.bins[2].count, 1);
  EXPECT_NEAR(*s.bins[2].mean_dice, dc, 1e-12);
  EXPECT_EQ(s.without_dose, 1);
}

TEST(SummarizeEvaluationsTest, NothingEvaluatedHasNoNumbers) {
  const EvalSummary s = SummarizeEvaluations({});
  EXPECT_EQ(s.evaluated, 0);
  EXPECT_FALSE(s.mean_dice.has_value());
  EXPECT_FALSE(s.mean_compute_ms.has_value());
  EXPECT_FALSE(s.pooled.has_value());
  for (const DoseBinSummary& bin : s.bins) {
    EXPECT_EQ(bin.count, 0);
    EXPECT_FALSE(bin.mean_dice.has_value());
  }
}

TEST(FormatEvalReportTest, PerImageLinesUnlessQuietAndEmptyBinsSaySo) {
  const std::vector<ImageEvaluation> results = Sample();
  const EvalSummary s = SummarizeEvaluations(results);
  EvalModelInfo model{"tiny", 3, /*untrained=*/true, {}};
  const std::string full = FormatEvalReport(results, s, model, "/data/x", /*failed=*/1, false);
  EXPECT_NE(full.find("tiny v3"), std::string::npos) << full;
  EXPECT_NE(full.find("UNTRAINED"), std::string::npos) << full;
  EXPECT_NE(full.find("5 images: 4 evaluated, 1 failed"), std::string::npos) << full;
  EXPECT_NE(full.find("\na "), std::string::npos) << full;
  EXPECT_NE(full.find("\nd "), std::string::npos) << full;
  EXPECT_NE(full.find("0.8889"), std::string::npos) << full;  // a's Dice
  EXPECT_NE(full.find("0.5714"), std::string::npos) << full;  // pooled Dice
  EXPECT_NE(full.find("100-300   no images"), std::string::npos) << full;
  EXPECT_NE(full.find("< 100     2 images"), std::string::npos) << full;
  EXPECT_NE(full.find("1 image without a known dose"), std::string::npos) << full;

  const std::string quiet = FormatEvalReport(results, s, model, "/data/x", 1, true);
  EXPECT_EQ(quiet.find("\na "), std::string::npos) << quiet;
  EXPECT_EQ(quiet.find("0.8889"), std::string::npos) << quiet;
  EXPECT_NE(quiet.find("0.5714"), std::string::npos) << quiet;
  EXPECT_NE(quiet.find("no images"), std::string::npos) << quiet;
}

TEST(FormatEvalCsvTest, OneRowPerImageWithEmptyUnknowns) {
  std::vector<ImageEvaluation> results = Sample();
  results[1].stem = "b,\"odd\"";
  const std::string csv = FormatEvalCsv(results);
  EXPECT_EQ(csv.rfind("stem,dose,dice,iou,precision,recall,f1,compute_ms,particle_fraction,"
                      "mean_entropy_bits,lattice_contrast,out_of_domain\n",
                      0),
            0u)
      << csv;
  EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), 5);
  EXPECT_NE(csv.find("\na,50,0.888889,0.800000,0.800000,1.000000,0.888889,2.000,,,,\n"),
            std::string::npos)
      << csv;
  EXPECT_NE(csv.find("\n\"b,\"\"odd\"\"\",80,"), std::string::npos) << csv;
  EXPECT_NE(csv.find("\nc,500,1.000000,1.000000,1.000000,1.000000,1.000000,,,,,\n"),
            std::string::npos)
      << csv;
  EXPECT_NE(csv.find("\nd,,0.500000,"), std::string::npos) << csv;
}

TEST(FormatEvalSummaryJsonTest, HoldsModelMeansPooledBinsAndFailures) {
  const EvalSummary s = SummarizeEvaluations(Sample());
  EvalModelInfo model{"tiny", 2, false, {{"tiny", 1}}};
  const auto j = nlohmann::json::parse(
      FormatEvalSummaryJson(s, model, "/data/x", 5, {{"e", "images/e.tif: wrong magic"}}));
  EXPECT_EQ(j["model"]["name"], "tiny");
  EXPECT_EQ(j["model"]["version"], 2);
  EXPECT_EQ(j["model"]["also_seen"][0]["version"], 1);
  EXPECT_EQ(j["images"], 5);
  EXPECT_EQ(j["evaluated"], 4);
  EXPECT_EQ(j["failed"], 1);
  EXPECT_EQ(j["failures"][0]["stem"], "e");
  EXPECT_NEAR(j["mean"]["dice"].get<double>(), *s.mean_dice, 1e-12);
  EXPECT_NEAR(j["pooled"]["dice"].get<double>(), 28.0 / 49, 1e-12);
  EXPECT_EQ(j["pooled"]["true_positive"], 14);
  ASSERT_EQ(j["dose_bins"].size(), 3u);
  EXPECT_EQ(j["dose_bins"][0]["label"], "< 100");
  EXPECT_TRUE(j["dose_bins"][0]["min"].is_null());
  EXPECT_EQ(j["dose_bins"][0]["max"], 100.0);
  EXPECT_EQ(j["dose_bins"][0]["count"], 2);
  EXPECT_EQ(j["dose_bins"][1]["count"], 0);
  EXPECT_TRUE(j["dose_bins"][1]["mean_dice"].is_null());
  EXPECT_EQ(j["dose_bins"][2]["min"], 300.0);
  EXPECT_EQ(j["dose_bins"][2]["count"], 1);
  EXPECT_EQ(j["images_without_dose"], 1);

  const auto empty =
      nlohmann::json::parse(FormatEvalSummaryJson(SummarizeEvaluations({}), model, "/d", 0, {}));
  EXPECT_TRUE(empty["mean"]["dice"].is_null());
  EXPECT_TRUE(empty["pooled"]["dice"].is_null());
}

TEST(DoseAxisRangeTest, WholeDecadesAroundDosesAndBinEdges) {
  auto is_decade = [](double v) {
    return std::abs(std::log10(v) - std::round(std::log10(v))) < 1e-12;
  };
  for (const std::vector<double>& doses : std::vector<std::vector<double>>{
           {}, {100, 300}, {30, 1000}, {0.5, 2e5}, {150}, {-3, 0, 200}}) {
    const auto [lo, hi] = DoseAxisRange(doses);
    EXPECT_TRUE(is_decade(lo)) << lo;
    EXPECT_TRUE(is_decade(hi)) << hi;
    // Every bin keeps some width, and every point stays off the frame.
    EXPECT_LT(lo, 100);
    EXPECT_GT(hi, 300);
    for (const double d : doses) {
      if (d > 0) {
        EXPECT_LT(lo, d);
        EXPECT_GT(hi, d);
      }
    }
  }
  EXPECT_EQ(DoseAxisRange({30, 1000}), std::make_pair(10.0, 10000.0));
}

// Pixels of exactly `bgr` in the plot, and their centroid.
int CountColour(const cv::Mat& image, const cv::Scalar& bgr, cv::Point2d* centroid = nullptr) {
  cv::Mat hit;
  cv::inRange(image, bgr, bgr, hit);
  const cv::Moments m = cv::moments(hit, true);
  if (centroid && m.m00 > 0) *centroid = {m.m10 / m.m00, m.m01 / m.m00};
  return cv::countNonZero(hit);
}

const cv::Scalar kPointColour(200, 110, 20);  // What RenderDiceVsDose fills points with.
const cv::Scalar kMeanColour(40, 40, 210);    // Its bin-mean segments.

TEST(RenderDiceVsDoseTest, HasTheRequestedSizeAndIsNotBlank) {
  const std::vector<ImageEvaluation> results = Sample();
  const cv::Mat plot =
      RenderDiceVsDose(results, SummarizeEvaluations(results), "title", cv::Size(700, 450));
  ASSERT_EQ(plot.type(), CV_8UC3);
  EXPECT_EQ(plot.size(), cv::Size(700, 450));
  cv::Mat grey, ink;
  cv::cvtColor(plot, grey, cv::COLOR_BGR2GRAY);
  cv::threshold(grey, ink, 200, 255, cv::THRESH_BINARY_INV);
  // Axes, ticks, labels and points: a real drawing, not a few stray pixels.
  EXPECT_GT(cv::countNonZero(ink), 2000);
  EXPECT_GT(CountColour(plot, kPointColour), 3 * 20);  // Three images have a dose.
  EXPECT_GT(CountColour(plot, kMeanColour), 2 * 20);   // Two bins have a mean.

  // Tiny requested sizes are clamped, not broken.
  EXPECT_EQ(RenderDiceVsDose(results, SummarizeEvaluations(results), "t", cv::Size(10, 10)).size(),
            cv::Size(320, 240));
  // No results at all still draws the axes.
  const cv::Mat empty = RenderDiceVsDose({}, SummarizeEvaluations({}), "nothing");
  cv::cvtColor(empty, grey, cv::COLOR_BGR2GRAY);
  cv::threshold(grey, ink, 200, 255, cv::THRESH_BINARY_INV);
  EXPECT_GT(cv::countNonZero(ink), 1000);
  EXPECT_EQ(CountColour(empty, kPointColour), 0);
}

TEST(RenderDiceVsDoseTest, PointsAndMeansSitWhereTheirValuesSay) {
  const cv::Size size(800, 500);
  // Low dose, high Dice: upper left. (Bin 0's mean segment spans the left part.)
  std::vector<ImageEvaluation> high = {Make("p", 20, 95, 5, 5, 895)};
  cv::Point2d at;
  cv::Mat plot = RenderDiceVsDose(high, SummarizeEvaluations(high), "", size);
  ASSERT_GT(CountColour(plot, kPointColour, &at), 0);
  EXPECT_LT(at.x, size.width / 2.0);
  EXPECT_LT(at.y, size.height / 2.0);
  ASSERT_GT(CountColour(plot, kMeanColour, &at), 0);
  EXPECT_LT(at.x, size.width / 2.0);
  EXPECT_LT(at.y, size.height / 2.0);

  // High dose, low Dice: lower right.
  std::vector<ImageEvaluation> low = {Make("q", 900, 5, 45, 45, 905)};
  plot = RenderDiceVsDose(low, SummarizeEvaluations(low), "", size);
  ASSERT_GT(CountColour(plot, kPointColour, &at), 0);
  EXPECT_GT(at.x, size.width / 2.0);
  EXPECT_GT(at.y, size.height / 2.0);
  ASSERT_GT(CountColour(plot, kMeanColour, &at), 0);
  EXPECT_GT(at.x, size.width / 2.0);
  EXPECT_GT(at.y, size.height / 2.0);

  // An image without a dose cannot be placed on the dose axis.
  std::vector<ImageEvaluation> undosed = {Make("r", std::nullopt, 5, 5, 5, 85)};
  plot = RenderDiceVsDose(undosed, SummarizeEvaluations(undosed), "", size);
  EXPECT_EQ(CountColour(plot, kPointColour), 0);
  EXPECT_EQ(CountColour(plot, kMeanColour), 0);
}

}  // namespace
}  // namespace fringe
