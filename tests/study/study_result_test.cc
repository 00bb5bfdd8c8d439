#include "study/study_result.h"

#include <gtest/gtest.h>

#include <cmath>

namespace fringe::study {
namespace {

// A frame's confusion counts for a given Dice with 100 true pixels (2TP / (2TP + FP + FN)).
ConfusionCounts Counts(int64_t tp, int64_t fp, int64_t fn) {
  ConfusionCounts c;
  c.true_positive = tp;
  c.false_positive = fp;
  c.false_negative = fn;
  c.true_negative = 1000;
  return c;
}

CandidateResult Done(const std::string& name, double dice, double rf_nm) {
  CandidateResult r;
  r.name = name;
  r.description = name + " network";
  r.architecture = "unet";
  r.parameters = 123456;
  r.macs = 2500000000;
  r.latency_tile = 256;
  r.receptive_field_px = std::llround(rf_nm / 0.0225);
  r.receptive_field_nm = rf_nm;
  r.steps = 400;
  r.training_seconds = 540;
  r.dice = dice;
  r.dose_dice = {{40, dice - 0.2}, {150, dice}, {700, dice + 0.1}};
  r.dice_by_dose = {dice - 0.2, dice, dice + 0.1};
  r.frames_by_dose = {1, 1, 1};
  r.latency_ms = 21.5;
  return r;
}

TEST(StudyResultTest, SummarizeFramesAveragesOverallAndPerDoseBin) {
  CandidateResult r;
  SummarizeFrames({{50.0, Counts(80, 0, 20)},         // Dice 160/180
                   {80.0, Counts(100, 0, 0)},         // Dice 1
                   {500.0, Counts(50, 50, 50)},       // Dice 0.5
                   {std::nullopt, Counts(0, 0, 0)}},  // Nothing there, nothing found: 1
                  &r);
  EXPECT_EQ(r.frames, 4);
  EXPECT_NEAR(r.dice, (160.0 / 180 + 1 + 0.5 + 1) / 4, 1e-12);
  EXPECT_NEAR(r.dice_by_dose[0].value(), (160.0 / 180 + 1) / 2, 1e-12);
  EXPECT_FALSE(r.dice_by_dose[1].has_value());
  EXPECT_NEAR(r.dice_by_dose[2].value(), 0.5, 1e-12);
  EXPECT_EQ(r.frames_by_dose[0], 2);
  EXPECT_EQ(r.dose_dice.size(), 3u);  // The frame without a dose is in no bin and no plot.
  // Pooled: 2 * 230 / (2 * 230 + 50 + 70).
  EXPECT_NEAR(r.pooled_dice, 460.0 / 580, 1e-12);
}

TEST(StudyResultTest, JsonRoundTripKeepsEveryNumber) {
  CandidateResult r = Done("unet-w8", 0.71, 4.6);
  analysis::RadialSpectrum s;
  s.frequency = {0.5, 1.5};
  s.amplitude = {2.0, 0.5};
  s.count = {4, 12};
  s.bin_width = 1;
  s.unit = "1/nm";
  r.relevance_spectrum = s;
  r.relevance_spectrum_std = {0.1, 0.2};
  r.au_band_contrast = 1.4;
  auto back = CandidateResultFromJson(ToJson(r));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(ToJson(*back).dump(), ToJson(r).dump());
  nlohmann::json broken = ToJson(r);
  broken.erase("dice");
  EXPECT_EQ(CandidateResultFromJson(broken).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(StudyResultTest, MarkdownAndCsvListEveryCandidate) {
  CandidateResult skipped;
  skipped.name = "fcn8s-imagenet";
  skipped.description = "needs weights";
  skipped.architecture = "fcn8s";
  skipped.status = "skipped: no weights";
  const std::vector<CandidateResult> results = {Done("unet-w8", 0.712, 4.59),
                                                Done("unet-w16", 0.733, 4.59), skipped};
  StudyContext c;
  c.title = "Test study";
  c.command = "fringe-study --config x";
  c.minutes_per_candidate = 9;
  const std::string md = StudyMarkdown(c, results);
  EXPECT_NE(md.find("# Test study"), std::string::npos);
  EXPECT_NE(md.find("fringe-study --config x"), std::string::npos);
  EXPECT_NE(md.find("| unet-w8 | unet | 123.5 k | 2.50 | 204 | 4.59 | 400 | 9.0 | 0.712"),
            std::string::npos)
      << md;
  EXPECT_NE(md.find("| unet-w16 |"), std::string::npos);
  EXPECT_EQ(md.find("| fcn8s-imagenet |"), std::string::npos);  // Not a row without numbers,
  EXPECT_NE(md.find("- fcn8s-imagenet (needs weights): skipped: no weights"),  // but listed.
            std::string::npos);
  const std::string csv = StudyCsv(results);
  EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), 4);
  EXPECT_NE(csv.find("\nunet-w16,unet,done,123456,2500000000,204,4.59,400,"), std::string::npos)
      << csv;
  EXPECT_NE(csv.find("\nfcn8s-imagenet,fcn8s,skipped: no weights,,,"), std::string::npos);
}

TEST(StudyResultTest, PlotsDrawTheCandidates) {
  const std::vector<CandidateResult> one = {Done("a", 0.5, 3)};
  const std::vector<CandidateResult> two = {Done("a", 0.5, 3), Done("b", 0.8, 8)};
  const std::vector<double> edges = {20, 100, 300, 1000};
  const cv::Mat dose1 = RenderDiceVsDose(one, edges), dose2 = RenderDiceVsDose(two, edges);
  ASSERT_FALSE(dose1.empty());
  ASSERT_EQ(dose1.size(), dose2.size());
  EXPECT_GT(cv::norm(dose1, dose2, cv::NORM_L1), 0);  // The second candidate is drawn.
  const cv::Mat rf1 = RenderDiceVsReceptiveField(one), rf2 = RenderDiceVsReceptiveField(two);
  ASSERT_FALSE(rf1.empty());
  EXPECT_GT(cv::norm(rf1, rf2, cv::NORM_L1), 0);
}

}  // namespace
}  // namespace fringe::study
